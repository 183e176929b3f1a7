"""Per-op cost of envelope encryption vs raw AES-GCM, and KEK wrap/unwrap rates per backend.

Run: .venv/bin/python bench/crypto_primitives.py   (5-10 s; SoftHSM2 part skipped if absent)
"""

from __future__ import annotations

import os
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idproof.crypto.blind_index import BlindIndexer
from idproof.crypto.dek_cache import DekCache
from idproof.crypto.envelope import AadContext, EnvelopeCipher, new_dek
from idproof.crypto.kms.base import KeyManager
from idproof.crypto.kms.local import LocalKeyManager

FIELD = os.urandom(200)
CTX = AadContext("ten_0123456789abcdefghijklmn", "identity_fields", "document_number",
                 "idf_0123456789abcdefghijklmn")
KEY_ID = "sk_0123456789abcdefghijklmn"


def per_op_us(fn: Callable[[], object], number: int) -> float:
    """Best-of-5 mean microseconds per call (the minimum filters scheduler noise)."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def envelope_figures() -> None:
    dek = new_dek()
    aead = AESGCM(dek)
    nonce = os.urandom(12)
    aad = b"x" * 96  # about the size of the real length-prefixed AAD
    raw_ct = aead.encrypt(nonce, FIELD, aad)
    cipher = EnvelopeCipher()
    blob = cipher.seal(dek, KEY_ID, FIELD, CTX)
    n = 20_000

    rows = [
        ("raw AESGCM encrypt (prebuilt key)", per_op_us(lambda: aead.encrypt(nonce, FIELD, aad),
                                                        n)),
        ("raw AESGCM decrypt (prebuilt key)", per_op_us(lambda: aead.decrypt(nonce, raw_ct, aad),
                                                        n)),
        ("raw AESGCM(key).encrypt per call",
         per_op_us(lambda: AESGCM(dek).encrypt(nonce, FIELD, aad), n)),
        ("raw AESGCM(key).decrypt per call",
         per_op_us(lambda: AESGCM(dek).decrypt(nonce, raw_ct, aad), n)),
        ("EnvelopeCipher.seal", per_op_us(lambda: cipher.seal(dek, KEY_ID, FIELD, CTX), n)),
        ("EnvelopeCipher.open", per_op_us(lambda: cipher.open(dek, blob, CTX), n)),
    ]
    floor_enc, floor_dec = rows[0][1], rows[1][1]
    print(f"envelope, {len(FIELD)}-byte field (us/op, best of 5)")
    for name, us in rows:
        print(f"  {name:<38} {us:8.2f} us")
    seal_us, open_us = rows[4][1], rows[5][1]
    print(f"  seal / raw encrypt ratio               {seal_us / floor_enc:8.2f}x")
    print(f"  open / raw decrypt ratio               {open_us / floor_dec:8.2f}x")
    # seal/open take the DEK as bytes, so AES key setup is part of every call; this is the
    # ratio against a raw call paying the same setup.
    print(f"  seal / raw AESGCM(key).encrypt ratio   {seal_us / rows[2][1]:8.2f}x")
    print(f"  open / raw AESGCM(key).decrypt ratio   {open_us / rows[3][1]:8.2f}x")

    indexer = BlindIndexer(os.urandom(32))
    cache = DekCache()
    cache.put(KEY_ID, dek)
    print(f"  {'BlindIndexer.compute (passport)':<38} "
          f"{per_op_us(lambda: indexer.compute('ten_1', 'passport_number', 'L898902C3'), n):8.2f}"
          " us")
    print(f"  {'DekCache.get (hit)':<38} {per_op_us(lambda: cache.get(KEY_ID), n):8.2f} us")


def kms_figures(name: str, km: KeyManager, number: int) -> None:
    dek = new_dek()
    wrapped = km.wrap(dek)
    wrap_us = per_op_us(lambda: km.wrap(dek), number)
    unwrap_us = per_op_us(lambda: km.unwrap(wrapped), number)
    print(f"  {name:<10} wrap {1e6 / wrap_us:10,.0f}/s ({wrap_us:7.1f} us)   "
          f"unwrap {1e6 / unwrap_us:10,.0f}/s ({unwrap_us:7.1f} us)")


def main() -> None:
    envelope_figures()
    print("KEK wrap/unwrap of a 32-byte DEK")
    with tempfile.TemporaryDirectory() as tmp:
        km = LocalKeyManager(Path(tmp) / "keyring.json")
        kms_figures("local", km, 5_000)
        # The passphrase only changes how the file is stored, not wrap cost; shown for proof.
        km_pw = LocalKeyManager(Path(tmp) / "keyring-pw.json", b"bench passphrase")
        kms_figures("local+pw", km_pw, 5_000)

        from idproof.crypto.kms.softhsm import find_softhsm, init_token

        if find_softhsm() is None:
            print("  pkcs11     skipped: SoftHSM2 not installed (apt-get install softhsm2)")
            return
        from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager

        token = init_token(Path(tmp) / "softhsm", label="idproof-bench")
        hsm = Pkcs11KeyManager(token.lib_path, token.token_label, token.user_pin)
        try:
            kms_figures("pkcs11", hsm, 1_000)
        finally:
            hsm.close()


if __name__ == "__main__":
    main()
