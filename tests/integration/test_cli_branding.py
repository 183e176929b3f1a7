"""`idproof branding show|set|logo`: the same checks as the API, a refusal changes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from idproof.cli.main import app
from tests.integration.test_cli import env, run, runner  # noqa: F401 - the fixture too


def test_set_show_and_refuse(env: Path, tmp_path: Path) -> None:  # noqa: F811
    run("tenants", "create", "acme")
    assert json.loads(run("branding", "show", "--tenant", "acme")) == {}
    run("branding", "set", "--tenant", "acme", "--name", "Acme Bank", "--accent", "#0b5cad",
        "--privacy-url", "https://acme.example/privacy")
    run("branding", "set", "--tenant", "acme", "--support", "help@acme.example")
    shown = json.loads(run("branding", "show", "--tenant", "acme"))
    assert shown["display_name"] == "Acme Bank" and shown["accent_color"] == "#0b5cad"
    assert shown["privacy_url"] == "https://acme.example/privacy"
    assert shown["support_contact"] == "help@acme.example" and shown["logo"] is False
    # A pale accent under white text is refused and nothing changes.
    bad = runner.invoke(app, ["branding", "set", "--tenant", "acme", "--accent", "#ffff66"])
    assert bad.exit_code == 2 and "accent" in bad.output
    bad = runner.invoke(app, ["branding", "set", "--tenant", "acme", "--privacy-url",
                              "http://acme.example/p"])
    assert bad.exit_code == 2
    assert json.loads(run("branding", "show", "--tenant", "acme")) == shown
    run("branding", "set", "--tenant", "acme", "--privacy-url", "")  # '' clears it
    assert json.loads(run("branding", "show", "--tenant", "acme"))["privacy_url"] is None
    missing = runner.invoke(app, ["branding", "show", "--tenant", "nope"])
    assert missing.exit_code == 2 and "tenant_not_found" in missing.output
    logo = tmp_path / "logo.png"
    buf = io.BytesIO()
    Image.new("RGB", (400, 120), (11, 92, 173)).save(buf, format="PNG")
    logo.write_bytes(buf.getvalue())
    assert "logo set" in run("branding", "logo", "--tenant", "acme", str(logo))
    assert json.loads(run("branding", "show", "--tenant", "acme"))["logo"] is True
