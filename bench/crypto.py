"""DataProtection costs: field encrypt/decrypt (DEK cache warm and cold) and KEK rotation speed.

Prints per-operation microseconds for a 200-byte field through `DataProtection` with the DEK
cache warm and cold (cold = key store read + KEK unwrap), the warm figure's ratio to raw AESGCM
on the same data (the floor), and DEKs re-wrapped per second while rotating the KEK of 100,000
subjects, for the local keyring and for PKCS#11 (SoftHSM2; skipped when not installed).

Run: .venv/bin/python bench/crypto.py   (1-2 minutes; ROTATION_SUBJECTS=N to change 100,000)
"""

from __future__ import annotations

import os
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idproof.audit.service import AuditService
from idproof.core.ids import new_id
from idproof.crypto.envelope import new_dek
from idproof.crypto.keystore import KeyStore
from idproof.crypto.kms.base import KeyManager
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.db.migrate import upgrade

FIELD = os.urandom(200)
TENANT = "ten_0123456789abcdefghijklmn"
ROW = "row_0123456789abcdefghijklmn"
SUBJECTS = int(os.environ.get("ROTATION_SUBJECTS", "100000"))


def per_op_us(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Best-of-`repeat` mean microseconds per call (the minimum filters scheduler noise)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def protection_for(tmp: Path, name: str, kms: KeyManager) -> DataProtection:
    main = f"sqlite:///{tmp / name / 'idproof.db'}"
    upgrade(main)
    store = KeyStore(f"sqlite:///{tmp / name / 'keystore.db'}")
    store.ensure_schema()
    return DataProtection(store, kms, AuditService(Database(main)))


def field_figures(name: str, p: DataProtection, number: int) -> float:
    key = p.subject_key(TENANT, "sub_bench")
    blob = p.encrypt(TENANT, "identity_fields", "document_number", ROW, key, FIELD)

    def enc() -> bytes:
        return p.encrypt(TENANT, "identity_fields", "document_number", ROW, key, FIELD)

    def dec() -> bytes:
        return p.decrypt(TENANT, "identity_fields", "document_number", ROW, key, blob)

    def cold(fn: Callable[[], bytes]) -> Callable[[], bytes]:
        def run() -> bytes:
            p.clear_cache()
            return fn()
        return run

    warm_enc, warm_dec = per_op_us(enc, number), per_op_us(dec, number)
    cold_n = max(200, number // 20)
    cold_enc, cold_dec = per_op_us(cold(enc), cold_n), per_op_us(cold(dec), cold_n)
    print(f"  {name:<8} encrypt warm {warm_enc:8.2f} us   cold {cold_enc:8.2f} us")
    print(f"  {'':<8} decrypt warm {warm_dec:8.2f} us   cold {cold_dec:8.2f} us")
    return warm_enc, warm_dec


def raw_floor(number: int) -> tuple[float, float]:
    aead = AESGCM(new_dek())
    nonce, aad = os.urandom(12), b"x" * 120  # about the size of the real AAD
    ct = aead.encrypt(nonce, FIELD, aad)
    return (per_op_us(lambda: aead.encrypt(nonce, FIELD, aad), number),
            per_op_us(lambda: aead.decrypt(nonce, ct, aad), number))


def rotation_figures(name: str, p: DataProtection, subjects: int) -> None:
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows, dek = [], new_dek()
    w = p.kms.wrap(dek)
    for i in range(subjects):
        if i % 100 == 0:
            # Setup only: a fresh wrapping per 100 rows keeps it quick (an HSM wraps ~15k/s);
            # the rotation below still unwraps and re-wraps every row on its own.
            w = p.kms.wrap(dek)
        rows.append({"subject_key_id": new_id("sk"), "tenant_id": TENANT,
                     "subject_id": f"sub_{i}", "kek_version": w.kek_version,
                     "wrapped": w.blob, "created_at": now})
        if len(rows) == 10_000:
            p.store.insert_many(rows)
            rows = []
    p.store.insert_many(rows)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    result = p.rotate_kek(batch_size=1000)
    took = time.perf_counter() - started
    assert result.rewrapped == subjects + 1 and not result.failed  # +1: the field bench key
    print(f"  {name:<8} {subjects:,} subjects re-wrapped in {took:6.2f} s: "
          f"{subjects / took:10,.0f} DEKs/s   (setup {setup:.1f} s)")


def main() -> None:
    number = 20_000
    print(f"DataProtection, {len(FIELD)}-byte field (us/op, best of 5)")
    raw_enc, raw_dec = raw_floor(number)
    print(f"  {'raw':<8} AESGCM encrypt {raw_enc:6.2f} us   decrypt {raw_dec:6.2f} us "
          "(prebuilt key: the floor)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        local = protection_for(tmp, "local", LocalKeyManager(tmp / "local" / "keyring.json"))
        warm_enc, warm_dec = field_figures("local", local, number)
        print(f"  warm / raw ratio: encrypt {warm_enc / raw_enc:5.1f}x   "
              f"decrypt {warm_dec / raw_dec:5.1f}x")

        hsm: DataProtection | None = None
        from idproof.crypto.kms.softhsm import find_softhsm, init_token

        if find_softhsm() is not None:
            from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager

            token = init_token(tmp / "softhsm", label="idproof-bench")
            hsm = protection_for(tmp, "pkcs11", Pkcs11KeyManager(
                token.lib_path, token.token_label, token.user_pin))
            field_figures("pkcs11", hsm, number // 4)
        else:
            print("  pkcs11   skipped: SoftHSM2 not installed (apt-get install softhsm2)")

        print("KEK rotation (batches of 1000, SQLite key store)")
        rotation_figures("local", local, SUBJECTS)
        local.close()
        if hsm is not None:
            rotation_figures("pkcs11", hsm, SUBJECTS)
            hsm.close()


if __name__ == "__main__":
    main()
