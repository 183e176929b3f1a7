"""Locate SoftHSM2 and set up a private token directory (for tests, benchmarks and dev runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Debian/Ubuntu (multiarch and the compat symlink), Fedora/RHEL, Alpine, Homebrew.
LIBRARY_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialised SoftHSM2 token living in its own directory."""

    lib_path: str
    conf_path: Path
    token_label: str
    user_pin: str
    so_pin: str


def find_softhsm() -> tuple[str, str] | None:
    """(library path, softhsm2-util path), or None when SoftHSM2 is not installed.

    ``SOFTHSM2_LIB`` overrides the library search.
    """
    util = shutil.which("softhsm2-util")
    override = os.environ.get("SOFTHSM2_LIB")
    candidates = (override,) if override else LIBRARY_CANDIDATES
    lib = next((c for c in candidates if c and os.path.isfile(c)), None)
    if util is None or lib is None:
        return None
    return lib, util


def init_token(directory: Path, *, label: str = "idproof-test", user_pin: str = "1234",
               so_pin: str = "5678") -> SoftHsmToken:
    """Write a private softhsm2.conf under `directory`, initialise one token, point the
    process at it (SOFTHSM2_CONF) and make an already-loaded SoftHSM library rescan.

    SoftHSM2 reads its configuration and token list at C_Initialize, so a library loaded
    earlier in this process is re-initialised; callers must hold no open session then.
    """
    found = find_softhsm()
    if found is None:
        raise RuntimeError("SoftHSM2 is not installed (softhsm2-util or libsofthsm2.so missing)")
    lib_path, util = found
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n",
        encoding="utf-8",
    )
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    # Argument list, no shell; `util` is the resolved softhsm2-util path.
    subprocess.run(  # noqa: S603
        [util, "--init-token", "--free", "--label", label, "--so-pin", so_pin,
         "--pin", user_pin],
        check=True, env=env, capture_output=True,
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    import pkcs11  # local import: only callers that use SoftHSM pay for loading it

    lib = pkcs11.lib(lib_path)
    lib.reinitialize()
    return SoftHsmToken(lib_path, conf, label, user_pin, so_pin)
