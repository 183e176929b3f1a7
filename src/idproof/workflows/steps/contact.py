"""E-mail addresses and phone numbers: normalised, checked, and the facts the rules read."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from idproof.workflows.steps.otp import OtpError

# A small built-in list of well-known throwaway-mail domains; tenants who need the long
# lists maintain their own (the fact is a signal for the rules, never a refusal by itself).
DISPOSABLE_DOMAINS = frozenset({
    "mailinator.com", "guerrillamail.com", "guerrillamail.net", "10minutemail.com",
    "tempmail.com", "temp-mail.org", "yopmail.com", "trashmail.com", "sharklasers.com",
    "getnada.com", "dispostable.com", "maildrop.cc", "throwawaymail.com", "fakeinbox.com",
    "mailnesia.com", "mintemail.com", "mohmal.com", "emailondeck.com", "spamgourmet.com",
    "burnermail.io"})
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile", PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free", PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost", PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number", PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan", PhoneNumberType.VOICEMAIL: "voicemail"}
# The kinds that can receive a text message.
SMS_CAPABLE = frozenset({"mobile", "fixed_line_or_mobile", "voip", "personal_number"})


@dataclass(frozen=True, slots=True)
class EmailAddress:
    address: str  # the local part as typed, the domain lower case
    domain: str
    disposable: bool


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str
    country: str  # ISO 3166 alpha-2
    line_type: str


def parse_email(text: str) -> EmailAddress:
    """A deliverable-looking address or OtpError `invalid_email` (the message repeats
    nothing of the input)."""
    text = text.strip()
    local, at, domain = text.rpartition("@")
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if (not at or len(text) > 254 or not _LOCAL.match(local) or ".." in local
            or local.startswith(".") or local.endswith(".") or len(labels) < 2
            or not all(_LABEL.match(label) for label in labels)
            or not labels[-1].isalpha()):
        raise OtpError("invalid_email", "this is not an e-mail address")
    disposable = any(domain == d or domain.endswith("." + d) for d in DISPOSABLE_DOMAINS)
    return EmailAddress(f"{local}@{domain}", domain, disposable)


def parse_phone(text: str, region: str | None = None) -> PhoneNumber:
    """An E.164 number (`+4915123456789`, or national digits with `region`) that is valid
    and can take an SMS, or OtpError `invalid_phone` / `phone_not_mobile`."""
    try:
        num = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException:
        raise OtpError("invalid_phone", "this is not a phone number in international "
                                        "format (+ country code)") from None
    if not phonenumbers.is_valid_number(num):
        raise OtpError("invalid_phone", "this phone number does not exist")
    line_type = _LINE_TYPES.get(phonenumbers.number_type(num), "unknown")
    if line_type not in SMS_CAPABLE:
        raise OtpError("phone_not_mobile", f"a {line_type.replace('_', ' ')} number cannot "
                                           "receive a text message")
    region_code = phonenumbers.region_code_for_number(num) or ""
    return PhoneNumber(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164),
                       region_code, line_type)
