"""The embedded KEK holder: a versioned keyring file (0600), optionally sealed by a passphrase.

File format (JSON, UTF-8)::

    {"format": "idproof-keyring", "format_version": 1, "protection": "none",
     "keyring": {...}}
    {"format": "idproof-keyring", "format_version": 1, "protection": "scrypt-aes256gcm",
     "kdf": {"salt": b64, "n": 32768, "r": 8, "p": 1}, "nonce": b64, "sealed": b64}

where the keyring object is ``{"current": 2, "root_secret": b64, "keks": [{"version": 1,
"created": iso8601, "retired_at": iso8601 | null, "key": b64 | null}, ...]}``. With a passphrase
the keyring object is AES-256-GCM sealed under Scrypt(passphrase, salt) with the other header
fields (canonical JSON) as associated data, so editing the KDF parameters is detected too.

`root_secret` is a random 256-bit value created with the file and never rotated: it feeds
`derive_secret` (blind-index keys), which must not change when KEKs rotate. Retiring a KEK
erases its key bytes from the file (older backups still hold it; that is the operator's
backup policy, see docs). Writers serialise through an flock on ``<path>.lock`` and replace the
file atomically; readers notice another process's change by the file's inode/mtime/size.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from idproof.crypto.errors import (
    KekUnavailableError,
    KeyManagerError,
    KeyringError,
    KeyringPassphraseError,
    UnwrapError,
)
from idproof.crypto.kms.base import (
    DERIVED_SECRET_BYTES,
    WRAP_FORMAT_V1,
    WRAP_NONCE_BYTES,
    KekVersionInfo,
    WrappedKey,
    check_secret,
    derive_info,
    split_wrapped,
    wrap_aad,
)

_FORMAT = "idproof-keyring"
_FORMAT_VERSION = 1
_PROT_NONE = "none"
_PROT_SCRYPT = "scrypt-aes256gcm"
# Scrypt cost: ~32 MiB and ~0.1 s per open, paid once per process (the derived key is kept).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SEAL_LABEL = b"idproof/keyring/v1"


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(slots=True)
class _Kek:
    version: int
    created: datetime
    key: bytes | None
    retired_at: datetime | None = None


@dataclass(slots=True)
class _Keyring:
    current: int
    root_secret: bytes
    keks: dict[int, _Kek] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "root_secret": _b64e(self.root_secret),
            "keks": [
                {
                    "version": k.version,
                    "created": k.created.isoformat(),
                    "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                    "key": _b64e(k.key) if k.key is not None else None,
                }
                for k in sorted(self.keks.values(), key=lambda k: k.version)
            ],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> _Keyring:
        ring = cls(current=int(obj["current"]), root_secret=_b64d(obj["root_secret"]))
        for item in obj["keks"]:
            key = _b64d(item["key"]) if item["key"] is not None else None
            if key is not None and len(key) != 32:
                raise ValueError("KEK is not 256 bits")
            retired_at = item.get("retired_at")
            kek = _Kek(
                version=int(item["version"]),
                created=datetime.fromisoformat(item["created"]),
                key=key,
                retired_at=datetime.fromisoformat(retired_at) if retired_at else None,
            )
            ring.keks[kek.version] = kek
        if len(ring.root_secret) != 32:
            raise ValueError("root secret is not 256 bits")
        cur = ring.keks.get(ring.current)
        if cur is None or cur.key is None:
            raise ValueError("current KEK is missing or retired")
        return ring

    @classmethod
    def fresh(cls) -> _Keyring:
        ring = cls(current=1, root_secret=secrets.token_bytes(32))
        ring.keks[1] = _Kek(1, datetime.now(UTC), AESGCM.generate_key(bit_length=256))
        return ring


class LocalKeyManager:
    """`KeyManager` backed by a keyring file in the data directory."""

    def __init__(self, path: Path | str, passphrase: bytes | None = None) -> None:
        if passphrase is not None and (not isinstance(passphrase, bytes) or not passphrase):
            raise ValueError("passphrase must be non-empty bytes or None")
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._passphrase = passphrase
        self._lock = threading.RLock()
        # Derived passphrase keys by (salt, n, r, p): Scrypt is deliberately slow.
        self._kdf_cache: dict[tuple[bytes, int, int, int], bytes] = {}
        self._kdf_header: dict[str, Any] | None = None
        self._sig: tuple[int, int, int] | None = None
        self._ring: _Keyring
        self._aead: dict[int, AESGCM] = {}
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._file_lock():
            if not self._path.exists():
                ring = _Keyring.fresh()
                if passphrase is not None:
                    self._kdf_header = {"salt": _b64e(secrets.token_bytes(16)),
                                        "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P}
                self._write(ring)
            self._load()

    def __repr__(self) -> str:
        return f"LocalKeyManager(path={str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    # -- KeyManager ---------------------------------------------------------------------------

    def current_version(self) -> int:
        with self._lock:
            self._refresh()
            return self._ring.current

    def versions(self) -> list[KekVersionInfo]:
        with self._lock:
            self._refresh()
            return [
                KekVersionInfo(k.version, k.created, k.key is None, k.retired_at)
                for k in sorted(self._ring.keks.values(), key=lambda k: k.version)
            ]

    def wrap(self, dek: bytes) -> WrappedKey:
        secret = check_secret(dek)
        with self._lock:
            self._refresh()
            version = self._ring.current
            aead = self._aead[version]
        nonce = os.urandom(WRAP_NONCE_BYTES)
        blob = bytes((WRAP_FORMAT_V1,)) + nonce + aead.encrypt(nonce, secret, wrap_aad(version))
        return WrappedKey(version, blob)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        version = wrapped.kek_version
        with self._lock:
            self._refresh()
            kek = self._ring.keks.get(version) if isinstance(version, int) else None
            if kek is None:
                raise KekUnavailableError(version, retired=False)
            if kek.key is None:
                raise KekUnavailableError(version, retired=True)
            aead = self._aead[version]
        parts = split_wrapped(wrapped)
        if parts is None:
            raise UnwrapError(version, "malformed wrapped blob")
        nonce, sealed = parts
        try:
            return aead.decrypt(nonce, sealed, wrap_aad(version))
        except InvalidTag:
            raise UnwrapError(version) from None

    def rotate(self) -> int:
        with self._mutate() as ring:
            version = max(ring.keks) + 1
            ring.keks[version] = _Kek(version, datetime.now(UTC),
                                      AESGCM.generate_key(bit_length=256))
            ring.current = version
        return version

    def retire(self, version: int) -> None:
        with self._mutate() as ring:
            kek = ring.keks.get(version)
            if kek is None:
                raise KekUnavailableError(version, retired=False)
            if version == ring.current:
                raise KeyManagerError(
                    f"cannot retire the current KEK version {version}; rotate first")
            if kek.key is None:
                return  # already retired: retrying is harmless
            kek.key = None
            kek.retired_at = datetime.now(UTC)

    def derive_secret(self, label: bytes) -> bytes:
        info = derive_info(label)
        with self._lock:
            self._refresh()
            root = self._ring.root_secret
        return HKDFExpand(hashes.SHA256(), DERIVED_SECRET_BYTES, info).derive(root)

    def close(self) -> None:
        """Nothing to release; present for the protocol."""

    def __enter__(self) -> LocalKeyManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- file handling ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        with self._lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    @contextlib.contextmanager
    def _mutate(self) -> Iterator[_Keyring]:
        # Re-read under the cross-process lock so a concurrent rotate elsewhere is not lost.
        with self._file_lock():
            self._load()
            ring = _Keyring.from_json(self._ring.to_json())
            yield ring
            self._write(ring)
            self._load()

    def _refresh(self) -> None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            raise KeyringError(f"keyring {self._path} has disappeared") from None
        if (st.st_ino, st.st_mtime_ns, st.st_size) != self._sig:
            self._load()

    def _load(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except OSError as exc:
            raise KeyringError(f"cannot open keyring {self._path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if st.st_mode & 0o077:
                raise KeyringError(
                    f"keyring {self._path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {self._path}")
            with os.fdopen(os.dup(fd), "rb") as fh:
                raw = fh.read()
        finally:
            os.close(fd)
        ring, header = self._decode(raw)
        self._ring = ring
        self._kdf_header = header
        self._aead = {v: AESGCM(k.key) for v, k in ring.keks.items() if k.key is not None}
        self._sig = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _decode(self, raw: bytes) -> tuple[_Keyring, dict[str, Any] | None]:
        try:
            doc = json.loads(raw)
            if doc.get("format") != _FORMAT or doc.get("format_version") != _FORMAT_VERSION:
                raise ValueError("not an idproof keyring of a known version")
            protection = doc.get("protection")
            if protection == _PROT_NONE:
                if self._passphrase is not None:
                    raise KeyringPassphraseError(
                        f"keyring {self._path} is not passphrase-protected but a passphrase "
                        "was given")
                return _Keyring.from_json(doc["keyring"]), None
            if protection != _PROT_SCRYPT:
                raise ValueError(f"unknown protection {protection!r}")
            if self._passphrase is None:
                raise KeyringPassphraseError(
                    f"keyring {self._path} is passphrase-protected; provide the passphrase "
                    "(IDPROOF_MASTER_KEY_FILE)")
            header = doc["kdf"]
            key = self._derive(header)
            aad = _canonical({k: doc[k] for k in ("format", "format_version", "protection",
                                                   "kdf")})
            try:
                inner = AESGCM(key).decrypt(_b64d(doc["nonce"]), _b64d(doc["sealed"]),
                                            _SEAL_LABEL + aad)
            except InvalidTag:
                raise KeyringPassphraseError(
                    f"cannot open keyring {self._path}: wrong passphrase "
                    "(or the file was modified)") from None
            return _Keyring.from_json(json.loads(inner)), header
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            # The message names the file and the problem only; it never echoes key material.
            raise KeyringError(f"keyring {self._path} is malformed: "
                               f"{type(exc).__name__}") from None

    def _derive(self, header: dict[str, Any]) -> bytes:
        salt, n, r, p = _b64d(header["salt"]), int(header["n"]), int(header["r"]), int(header["p"])
        # Bounds stop a crafted file from making us spend hours or gigabytes in Scrypt.
        if len(salt) < 16 or n < 2**14 or n > 2**20 or n & (n - 1) or not 1 <= r <= 32 \
                or not 1 <= p <= 16:
            raise ValueError("keyring KDF parameters out of range")
        cache_key = (salt, n, r, p)
        key = self._kdf_cache.get(cache_key)
        if key is None:
            assert self._passphrase is not None
            key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._passphrase)
            self._kdf_cache[cache_key] = key
        return key

    def _encode(self, ring: _Keyring) -> bytes:
        head: dict[str, Any] = {"format": _FORMAT, "format_version": _FORMAT_VERSION}
        if self._passphrase is None:
            head["protection"] = _PROT_NONE
            head["keyring"] = ring.to_json()
            return _canonical(head) + b"\n"
        assert self._kdf_header is not None
        head["protection"] = _PROT_SCRYPT
        head["kdf"] = self._kdf_header
        key = self._derive(self._kdf_header)
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, _canonical(ring.to_json()), _SEAL_LABEL
                                     + _canonical(head))
        head["nonce"] = _b64e(nonce)
        head["sealed"] = _b64e(sealed)
        return _canonical(head) + b"\n"

    def _write(self, ring: _Keyring) -> None:
        data = self._encode(ring)
        tmp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # fsync the directory so the rename itself survives a crash.
        dfd = os.open(self._path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
