"""The data dir (owner-only) and the server secret every purpose key is derived from."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idproof.config import Settings

SECRET_FILE = "secret.key"  # noqa: S105 - a file name


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, stat.S_IRWXU)  # 0700: nobody else may even list the data dir


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_server_secret(settings: Settings) -> bytes:
    """The server secret from settings, or the data dir's key file (generated on first run)."""
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().strip()
    else:
        path = settings.data_dir / SECRET_FILE
        if not path.exists():
            _private_dir(settings.data_dir)
            _write_private(path, base64.b64encode(os.urandom(32)) + b"\n")
        raw = path.read_text().strip()
    try:
        secret = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise SystemExit("the server secret must be base64 (32 random bytes)") from None
    if len(secret) < 32:
        raise SystemExit("the server secret must hold at least 32 bytes")
    return secret


def derive(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose; keys for different purposes are independent."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"idproof/{purpose}/v1".encode()).derive(secret)


def init_data_dir(settings: Settings) -> None:
    """Create the data dir (0700) and make every file in it owner-only."""
    _private_dir(settings.data_dir)
    for child in settings.data_dir.iterdir():
        if child.is_file():
            os.chmod(child, 0o600)
