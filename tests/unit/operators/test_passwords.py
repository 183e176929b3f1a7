"""Password rules: length, confirmation, the bundled common-password list; argon2id hashing."""

from __future__ import annotations

import pytest

from idproof.operators.passwords import (
    MIN_LENGTH,
    PasswordHashing,
    common_passwords,
    password_problems,
)


def test_bundled_list_is_there() -> None:
    listed = common_passwords()
    assert len(listed) >= 5000
    assert {"password", "123456", "qwerty"} <= listed


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "password_too_short"),
    ("a" * (MIN_LENGTH - 1), "password_too_short"),
    ("qwerty123456", "password_common"),        # on the list itself
    ("1q2w3e4r5t6y", "password_common"),
    ("Password1234!", "password_common"),       # listed word + digits and a symbol
    ("!!Football2024", "password_common"),
    ("aaaaaaaaaaaaaaaa", "password_common"),
    ("abcabcabcabcabc", "password_common"),     # a repeated chunk
    ("123456789012", "password_common"),        # digits only
    ("x" * 300, "password_too_long"),
])
def test_refused(password: str, problem: str) -> None:
    assert problem in password_problems(password, password)


@pytest.mark.parametrize("password", ["correct horse battery staple", "vH7#qL2m!pZ9",
                                      "plum-orbit-canyon-42"])
def test_accepted(password: str) -> None:
    assert password_problems(password, password) == []


def test_confirmation_must_match() -> None:
    assert password_problems("correct horse battery staple", "correct horse battery") == [
        "password_mismatch"]


def test_argon2id_hash_and_verify() -> None:
    h = PasswordHashing()
    stored = h.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert h.verify(stored, "correct horse battery staple")
    assert not h.verify(stored, "correct horse battery stapler")
    assert not h.verify(None, "correct horse battery staple")  # unknown account
    assert not h.verify("not-a-hash", "x")
