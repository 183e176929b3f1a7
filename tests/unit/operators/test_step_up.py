"""The step-up page sends the operator back to a console page only, never to another site."""

from __future__ import annotations

import pytest

from idproof.operators.step_up import safe_next


@pytest.mark.parametrize("value", [
    "/console/", "/console/account", "/console/review/ses_01H8XK", "/console/sessions?q=ab&x=1"])
def test_console_pages_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    None, "", "https://evil.example/", "//evil.example", "/console//evil.example",
    "/\\evil.example", "/console/\\evil", "/console/../oauth/token", "/v1/sessions",
    "javascript:alert(1)", "/console/a b", "/console/" + "a" * 600, "/console/x#frag",
    "/console/x?next=https://evil.example"])
def test_anything_else_goes_home(value: str | None) -> None:
    assert safe_next(value) == "/console/"
