"""`KeyManager` on a PKCS#11 token (HSM; SoftHSM2 in tests): KEKs never leave the token.

Objects on the token (``P`` is ``label_prefix``, default ``idproof``):

- ``P-kek-v{n}``: AES-256 secret key, generated inside the token, ``CKA_SENSITIVE=true``,
  ``CKA_EXTRACTABLE=false``, ``CKA_TOKEN=true``, ``CKA_PRIVATE=true``, usable for
  encrypt/decrypt only. Retiring version n destroys this object.
- ``P-derive-root``: 256-bit generic secret, same protections, usable for HMAC only. It is
  never rotated, so `derive_secret` (blind-index root) is stable across KEK rotation.
- Data objects (``CKO_DATA``, private): ``P-kek-v{n}`` holding ``{"created": iso}`` and, once
  retired, ``P-kek-v{n}-retired`` holding ``{"retired_at": iso}``. They are created once and
  never modified (SoftHSM2 treats a data object's value as read-only).

Wrapping is CKM_AES_GCM encrypt/decrypt of the DEK bytes inside the token, with a random
96-bit IV and the KEK version as associated data; the blob format is the same as the local
backend's (``0x01 || iv || ciphertext || tag``). Why GCM rather than CKM_AES_KEY_WRAP_PAD:
C_WrapKey/C_UnwrapKey operate on key *objects*, so every DEK would have to be imported into the
token and, to be usable by the application's AESGCM, unwrapped as an extractable object;
GCM on the bytes needs one call each way, authenticates (a tampered blob or an edited version
number is refused) and works on SoftHSM2, whose KEY_WRAP_PAD mechanism number also disagrees
with the spec (it implements KWP under the PAD id). HSMs in FIPS mode that insist on generating
the GCM IV themselves would need a CKG_GENERATE variant; SoftHSM2 accepts a caller IV.

`derive_secret(label)` is HMAC-SHA256 inside the token over ``info || 0x01``, i.e. exactly
HKDF-Expand(PRK=root, info, 32) as the local backend computes it.

All instances on one token in a process share one logged-in session (PKCS#11 login is
per process), serialised by a lock. Create, rotate and retire from one process at a time
(the CLI): PKCS#11 has no cross-process transaction, so two concurrent first starts could
both create version 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import (
    NoSuchToken,
    ObjectHandleInvalid,
    PinIncorrect,
    PinLenRange,
    PKCS11Error,
)
from pkcs11.mechanisms import GCMParams

from idproof.crypto.errors import KekUnavailableError, KeyManagerError, UnwrapError
from idproof.crypto.kms.base import (
    WRAP_FORMAT_V1,
    WRAP_NONCE_BYTES,
    WRAP_TAG_BYTES,
    KekVersionInfo,
    WrappedKey,
    check_secret,
    derive_info,
    split_wrapped,
    wrap_aad,
)

_PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_PROTECT = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _SharedSession:
    """One logged-in session per (library, token) in this process, reference-counted.

    Why shared: PKCS#11 login state belongs to the process, not the session. A second
    C_Login fails with CKR_USER_ALREADY_LOGGED_IN and closing a logged-in session via
    python-pkcs11 calls C_Logout, which would log every other session out. The lock also
    serialises operations, since a session runs one operation at a time.
    """

    def __init__(self, key: tuple[str, str], session: Any, pin_digest: bytes) -> None:
        self.key = key
        self.session = session
        self.pin_digest = pin_digest
        self.lock = threading.RLock()
        self.refs = 0


_sessions: dict[tuple[str, str], _SharedSession] = {}
_sessions_lock = threading.Lock()


def _acquire_session(lib_path: str, token_label: str, user_pin: str) -> _SharedSession:
    key = (lib_path, token_label)
    digest = hashlib.sha256(user_pin.encode("utf-8")).digest()
    with _sessions_lock:
        shared = _sessions.get(key)
        if shared is not None:
            # Reusing a logged-in session must not let a wrong PIN through.
            if not hmac.compare_digest(shared.pin_digest, digest):
                raise KeyManagerError(
                    f"PKCS#11 login to token {token_label!r} failed: wrong user PIN")
            shared.refs += 1
            return shared
        try:
            lib = pkcs11.lib(lib_path)
            token = lib.get_token(token_label=token_label)
            session = token.open(user_pin=user_pin, rw=True)
        except NoSuchToken:
            raise KeyManagerError(
                f"PKCS#11 token {token_label!r} not found via {lib_path}") from None
        except (PinIncorrect, PinLenRange):
            raise KeyManagerError(
                f"PKCS#11 login to token {token_label!r} failed: wrong user PIN") from None
        except PKCS11Error as exc:
            raise KeyManagerError(
                f"cannot open PKCS#11 token {token_label!r} via {lib_path}: "
                f"{type(exc).__name__}") from None
        shared = _SharedSession(key, session, digest)
        shared.refs = 1
        _sessions[key] = shared
        return shared


def _release_session(shared: _SharedSession) -> None:
    with _sessions_lock:
        shared.refs -= 1
        if shared.refs > 0:
            return
        if _sessions.get(shared.key) is shared:
            del _sessions[shared.key]
        # Close while still holding _sessions_lock so a concurrent acquire cannot log in
        # before this logout. A finalised library has nothing left to release.
        with shared.lock, contextlib.suppress(PKCS11Error):
            shared.session.close()


class Pkcs11KeyManager:
    """`KeyManager` whose KEK versions are non-extractable AES keys on a PKCS#11 token."""

    def __init__(self, lib_path: str | Path, token_label: str, user_pin: str, *,
                 label_prefix: str = "idproof", refresh_seconds: float = 5.0) -> None:
        if not _PREFIX_RE.fullmatch(label_prefix):
            raise ValueError("label_prefix must be 1-32 characters of [A-Za-z0-9_.-]")
        self._prefix = label_prefix
        self._kek_re = re.compile(rf"{re.escape(label_prefix)}-kek-v([1-9][0-9]*)")
        self._tomb_re = re.compile(rf"{re.escape(label_prefix)}-kek-v([1-9][0-9]*)-retired")
        self._refresh_seconds = refresh_seconds
        self._keys: dict[int, Any] = {}
        self._current = 0
        self._scanned_at = float("-inf")
        self._shared = _acquire_session(str(lib_path), token_label, user_pin)
        self._lock = self._shared.lock
        self._session = self._shared.session
        self._closed = False
        self._root: Any = None
        try:
            self._init_objects(token_label)
        except BaseException:
            self.close()  # give the shared session reference back
            raise

    def __repr__(self) -> str:
        return f"Pkcs11KeyManager(label_prefix={self._prefix!r})"

    # -- KeyManager ---------------------------------------------------------------------------

    def current_version(self) -> int:
        with self._lock:
            self._scan()
            return self._current

    def versions(self) -> list[KekVersionInfo]:
        with self._lock:
            self._scan()
            records = self._records(f"{self._prefix}-kek-v")
            retired = self._tombstones()
            all_versions = set(self._keys) | set(retired)
            for label in records:
                m = self._kek_re.fullmatch(label)
                if m:
                    all_versions.add(int(m.group(1)))
            out = []
            for v in sorted(all_versions):
                created = _parse_ts(records.get(f"{self._prefix}-kek-v{v}"), "created")
                retired_at = retired.get(v)
                is_retired = v in retired or v not in self._keys
                out.append(KekVersionInfo(v, created or _EPOCH, is_retired, retired_at))
            return out

    def wrap(self, dek: bytes) -> WrappedKey:
        secret = check_secret(dek)
        iv = os.urandom(WRAP_NONCE_BYTES)
        with self._lock:
            # A rotate by another process (the CLI) is picked up within refresh_seconds.
            if time.monotonic() - self._scanned_at > self._refresh_seconds:
                self._scan()
            version = self._current
            sealed = self._crypt(version, "encrypt", secret, iv)
        return WrappedKey(version, bytes((WRAP_FORMAT_V1,)) + iv + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        version = wrapped.kek_version
        with self._lock:
            if not isinstance(version, int) or version < 1:
                raise KekUnavailableError(version, retired=False)
            if version not in self._keys:
                self._scan()
            if version not in self._keys:
                raise KekUnavailableError(version, retired=version in self._tombstones()
                                          or version < self._current)
            parts = split_wrapped(wrapped)
            if parts is None or len(parts[1]) < WRAP_TAG_BYTES + 1:
                raise UnwrapError(version, "malformed wrapped blob")
            iv, sealed = parts
            try:
                return self._crypt(version, "decrypt", sealed, iv)
            except KekUnavailableError:
                raise
            except PKCS11Error:
                # SoftHSM2 reports a bad GCM tag as CKR_GENERAL_ERROR; any failure here means
                # the blob did not authenticate under this KEK.
                raise UnwrapError(version) from None

    def rotate(self) -> int:
        with self._lock:
            self._scan()
            known = set(self._keys) | set(self._tombstones())
            version = max(known, default=0) + 1
            self._generate_kek(version)
            self._scan()
            return version

    def retire(self, version: int) -> None:
        with self._lock:
            self._scan()
            tombstones = self._tombstones()
            if version not in self._keys and version not in tombstones:
                raise KekUnavailableError(version, retired=False)
            if version == self._current:
                raise KeyManagerError(
                    f"cannot retire the current KEK version {version}; rotate first")
            # Tombstone first: if we crash before the destroy, a retry finishes the job and
            # unwrap already refuses the version.
            if version not in tombstones:
                self._create_record(f"{self._prefix}-kek-v{version}-retired",
                                    {"retired_at": datetime.now(UTC).isoformat()})
            # Materialise the search first: destroying objects mid-search is not portable.
            doomed = list(self._session.get_objects({
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.LABEL: f"{self._prefix}-kek-v{version}"}))
            for obj in doomed:
                obj.destroy()
            self._keys.pop(version, None)

    def derive_secret(self, label: bytes) -> bytes:
        info = derive_info(label)
        with self._lock:
            self._check_open()
            try:
                return bytes(self._root.sign(info + b"\x01", mechanism=Mechanism.SHA256_HMAC))
            except PKCS11Error as exc:
                raise KeyManagerError(f"HSM HMAC failed: {type(exc).__name__}") from None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._keys.clear()
        _release_session(self._shared)

    def __enter__(self) -> Pkcs11KeyManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _init_objects(self, token_label: str) -> None:
        """Find our objects on the token, creating KEK v1 and the derive root on first use."""
        label_prefix = self._prefix
        with self._lock:
            self._scan()
            if not self._keys and not self._tombstones():
                self._generate_kek(1)
                self._scan()
            if self._current == 0:
                raise KeyManagerError(
                    f"token {token_label!r} holds no usable {label_prefix}-kek-v* key")
            self._root = self._find_one(ObjectClass.SECRET_KEY, f"{label_prefix}-derive-root")
            if self._root is None:
                self._root = self._session.generate_key(
                    KeyType.GENERIC_SECRET, 256, label=f"{label_prefix}-derive-root",
                    id=f"{label_prefix}-derive-root".encode(), store=True,
                    capabilities=MechanismFlag.SIGN, template=dict(_PROTECT))

    # -- token helpers (call with self._lock held) --------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise KeyManagerError("key manager is closed")

    def _crypt(self, version: int, op: str, data: bytes, iv: bytes) -> bytes:
        self._check_open()
        key = self._keys.get(version)
        if key is None:
            raise KekUnavailableError(version, retired=version < self._current)
        params = GCMParams(iv, wrap_aad(version), WRAP_TAG_BYTES * 8)
        try:
            return bytes(getattr(key, op)(data, mechanism=Mechanism.AES_GCM,
                                          mechanism_param=params))
        except ObjectHandleInvalid:
            # Destroyed by another process since our last scan.
            self._keys.pop(version, None)
            raise KekUnavailableError(version, retired=True) from None

    def _scan(self) -> None:
        self._check_open()
        keys: dict[int, Any] = {}
        for obj in self._session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
            m = self._kek_re.fullmatch(obj.label or "")
            if m:
                keys[int(m.group(1))] = obj
        for v in self._tombstones():
            keys.pop(v, None)  # retired but destroy not finished: treat as gone
        self._keys = keys
        self._current = max(keys, default=0)
        self._scanned_at = time.monotonic()

    def _records(self, label_start: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for obj in self._session.get_objects({Attribute.CLASS: ObjectClass.DATA}):
            label = obj[Attribute.LABEL] or ""
            if label.startswith(label_start):
                try:
                    out[label] = json.loads(bytes(obj[Attribute.VALUE]))
                except (ValueError, TypeError):
                    out[label] = {}
        return out

    def _tombstones(self) -> dict[int, datetime | None]:
        out: dict[int, datetime | None] = {}
        for label, rec in self._records(f"{self._prefix}-kek-v").items():
            m = self._tomb_re.fullmatch(label)
            if m:
                out[int(m.group(1))] = _parse_ts(rec, "retired_at")
        return out

    def _find_one(self, cls: ObjectClass, label: str) -> Any | None:
        found = list(self._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
        if len(found) > 1:
            raise KeyManagerError(f"token holds {len(found)} objects labelled {label!r}")
        return found[0] if found else None

    def _create_record(self, label: str, value: dict[str, Any]) -> None:
        self._session.create_object({
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.LABEL: label,
            Attribute.APPLICATION: "idproof",
            Attribute.VALUE: json.dumps(value).encode("utf-8"),
        })

    def _generate_kek(self, version: int) -> None:
        label = f"{self._prefix}-kek-v{version}"
        self._session.generate_key(
            KeyType.AES, 256, label=label, id=label.encode(), store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template=dict(_PROTECT))
        self._create_record(label, {"created": datetime.now(UTC).isoformat()})


def _parse_ts(record: dict[str, Any] | None, key: str) -> datetime | None:
    if not record or not isinstance(record.get(key), str):
        return None
    try:
        return datetime.fromisoformat(record[key])
    except ValueError:
        return None
