"""E-mail and phone inputs: normalisation, refusals with stable codes, the facts read."""

from __future__ import annotations

import pytest

from idproof.workflows.steps.contact import parse_email, parse_phone
from idproof.workflows.steps.otp import OtpError


def test_email_domain_is_lower_cased_and_disposable_flagged() -> None:
    e = parse_email("  Jane.Doe+kyc@Example.COM ")
    assert (e.address, e.domain, e.disposable) == ("Jane.Doe+kyc@example.com", "example.com",
                                                   False)
    assert parse_email("x@mailinator.com").disposable
    assert parse_email("x@eu.mailinator.com").disposable
    assert not parse_email("x@notmailinator.com").disposable


@pytest.mark.parametrize("bad", ["", "plain", "@example.com", "a@", "a@b", "a..b@example.com",
                                 ".a@example.com", "a@-x.com", "a@example.c0m",
                                 "a b@example.com", "a@exa mple.com", "x" * 65 + "@ex.com"])
def test_bad_addresses_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(OtpError) as exc:
        parse_email(bad)
    assert exc.value.code == "invalid_email"
    assert bad.strip() == "" or bad not in exc.value.message


def test_phone_numbers_normalise_to_e164_with_country_and_type() -> None:
    p = parse_phone("+49 151 23456789")
    assert (p.e164, p.country, p.line_type) == ("+4915123456789", "DE", "mobile")
    assert parse_phone("0151 23456789", "DE").e164 == "+4915123456789"
    assert parse_phone("+1 201-555-0123").country == "US"


@pytest.mark.parametrize(("bad", "code"), [
    ("12345", "invalid_phone"), ("+49 123", "invalid_phone"), ("not a number", "invalid_phone"),
    ("+49 30 901820", "phone_not_mobile"),  # a Berlin landline takes no SMS
    ("+49 800 1234567", "phone_not_mobile"),
])
def test_bad_or_landline_numbers_are_refused(bad: str, code: str) -> None:
    with pytest.raises(OtpError) as exc:
        parse_phone(bad)
    assert exc.value.code == code
    assert bad not in exc.value.message
