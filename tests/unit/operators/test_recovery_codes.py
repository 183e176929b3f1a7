"""Recovery codes: ten distinct codes, normalised, matched by keyed digest."""

from __future__ import annotations

from idproof.operators import recovery

PEPPER = b"p" * 32


def test_ten_distinct_codes() -> None:
    codes = recovery.generate()
    assert len(codes) == 10 == len(set(codes))
    assert all(recovery.looks_like_recovery_code(c) for c in codes)


def test_match_ignores_case_and_separators() -> None:
    codes = recovery.generate()
    stored = {f"rc{i}": recovery.digest(PEPPER, c) for i, c in enumerate(codes)}
    assert recovery.find(PEPPER, codes[3].upper().replace("-", " "), stored) == "rc3"
    assert recovery.find(PEPPER, "zzzzz-zzzzz", stored) is None
    # A used code is removed from what is stored: it matches nothing any more.
    del stored["rc3"]
    assert recovery.find(PEPPER, codes[3], stored) is None


def test_digest_is_keyed() -> None:
    assert recovery.digest(PEPPER, "abcde-fghjk") != recovery.digest(b"q" * 32, "abcde-fghjk")
