"""WebAuthn ceremonies (py_webauthn): registration and assertion options and verification.

User verification is required; discoverable credentials (resident keys) are required so
that passkey-only, username-less sign-in works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CEREMONY_ERRORS = (InvalidAuthenticationResponse, InvalidRegistrationResponse,
                   InvalidJSONStructure, ValueError, KeyError, TypeError)


@dataclass(frozen=True, slots=True)
class Registered:
    credential_id: str  # base64url
    public_key: bytes
    sign_count: int


class Relying:
    """The relying party: our public URL's host is the RP id, its origin the only origin."""

    def __init__(self, public_url: str, name: str = "idproof console") -> None:
        parts = urlsplit(public_url)
        self.rp_id = parts.hostname or "localhost"
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.name = name

    def registration_options(self, user_handle: str, label: str, existing: list[str]
                             ) -> tuple[str, str]:
        """(options JSON, challenge in hex, as `authentication_options` says why)."""
        opts = generate_registration_options(
            rp_id=self.rp_id, rp_name=self.name, user_id=user_handle.encode(),
            user_name=label, user_display_name=label,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c))
                                 for c in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED))
        return options_to_json(opts), opts.challenge.hex()

    def verify_registration(self, credential: str, challenge: str) -> Registered:
        v = verify_registration_response(
            credential=credential, expected_challenge=bytes.fromhex(challenge),
            expected_origin=self.origin, expected_rp_id=self.rp_id,
            require_user_verification=True)
        return Registered(bytes_to_base64url(v.credential_id), v.credential_public_key,
                          v.sign_count)

    def authentication_options(self, allowed: list[str] | None) -> tuple[str, str]:
        """Options for an assertion; `allowed` None: any discoverable credential. The challenge
        is hex, not base64url: a sign-in keeps it in a cookie, and a WAF reads a base64url
        value holding `--` as an SQL comment (OWASP CRS 942440 inspects cookies)."""
        opts = generate_authentication_options(
            rp_id=self.rp_id,
            allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c))
                               for c in allowed or []],
            user_verification=UserVerificationRequirement.REQUIRED)
        return options_to_json(opts), opts.challenge.hex()

    def verify_authentication(self, credential: str, challenge: str, public_key: bytes,
                              sign_count: int) -> int:
        """The new signature counter; raises on any mismatch (origin, signature, counter)."""
        v = verify_authentication_response(
            credential=credential, expected_challenge=bytes.fromhex(challenge),
            expected_rp_id=self.rp_id, expected_origin=self.origin,
            credential_public_key=public_key, credential_current_sign_count=sign_count,
            require_user_verification=True)
        return int(v.new_sign_count)


def credential_ids(credential: str) -> tuple[str, str | None]:
    """(credential id, user handle) claimed by an assertion, before it is verified."""
    data = json.loads(credential)
    cred_id = data["id"]
    handle = (data.get("response") or {}).get("userHandle")
    if not isinstance(cred_id, str) or (handle is not None and not isinstance(handle, str)):
        raise ValueError("malformed credential")
    return cred_id, handle
