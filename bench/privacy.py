"""Subject export and erasure for a subject with 50 sessions, and purge throughput.

    python bench/privacy.py [--sessions 50] [--purge 500] [--database-url URL]

The real services on SQLite (or the given database): sessions with an uploaded, sealed and
processed document (the OCR engine replaced by a stub that returns a fixed document, so the
figures are about storage and crypto, not OCR), decided approved, raw images kept. Times an
export encrypted to an age public key (the passphrase mode adds scrypt, timed once), the
erasure of all of the subject's sessions, and a purge of N abandoned sessions past their
retention (sessions per second).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import pyrage
from PIL import Image
from pydantic import SecretStr

from idproof.bootstrap import Container, build_container
from idproof.config import JobsSettings, Settings
from idproof.core.clock import FrozenClock
from idproof.core.logging import configure_logging
from idproof.db.migrate import upgrade
from idproof.privacy.package import Encryption, verify_zip
from idproof.verification.document.checks import ExtractedDocument
from idproof.verification.document.reader import DocumentReader, ReadOutcome
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor


class FixedReader(DocumentReader):
    """Every image reads as the same valid passport (a new number each time)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def read(self, image_bytes: bytes) -> ReadOutcome:
        self.n += 1
        return ReadOutcome(ExtractedDocument(
            document_type="passport", issuing_country="FRA", document_number=f"B{self.n:08d}",
            surname="BENCH", given_names="SUBJECT", nationality="FRA",
            birth_date=date(1990, 1, 1), sex="F", expiry_date=date(2040, 1, 1),
            names_verified=True), None)


def _jpeg(i: int) -> bytes:
    img = Image.new("RGB", (640, 400), (40 + i % 200, 120, 90))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class _Held:
    """The services' task queue here: document jobs are held for the bench to run."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, ...]] = []

    def enqueue(self, task: str, *args: str, delay: float = 0.0) -> None:
        if task == "process_capture":
            self.jobs.append(args)


HELD = _Held()


def _container(data_dir: Path, url: str | None, clock: FrozenClock) -> Container:
    url = url or f"sqlite:///{data_dir / 'idproof.db'}"
    upgrade(url)
    settings = Settings(data_dir=data_dir, database_url=SecretStr(url),
                        secret_key=SecretStr("a" * 44), public_url="http://127.0.0.1:8000",
                        jobs=JobsSettings(queue_name=f"idproofbench{uuid.uuid4().hex[:12]}"))
    c = build_container(settings, clock, document_reader=FixedReader(),
                        face_analyzer=object(), tasks=HELD)  # type: ignore[arg-type]
    c.keys.ensure_key()
    c.tenants.ensure("bench")
    return c


def _verified(c: Container, actor: Actor, reference: str, i: int) -> str:
    view, _url, _ = c.sessions.create(actor, CreateSession(reference=reference,
                                                           workflow="document_only"))
    c.captures.upload_document(actor, view.id, "front", _jpeg(i))
    return view.id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--purge", type=int, default=500)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    configure_logging("WARNING", [], True)
    clock = FrozenClock()
    with tempfile.TemporaryDirectory() as tmp:
        c = _container(Path(tmp), args.database_url, clock)
        queue = HELD.jobs
        tenant = c.tenants.get("bench")
        c.retention.set_policy("bench", {"raw_images_hours": 24})
        actor = Actor(tenant_id=tenant.id, client_id="cli_bench")
        t0 = time.perf_counter()
        ids = [_verified(c, actor, "subject-1", i) for i in range(args.sessions)]
        while queue:
            c.captures.process(*queue.pop(0))
        for sid in ids:
            c.captures.submit(actor, sid)
        setup = time.perf_counter() - t0

        ident = pyrage.x25519.Identity.generate()
        c.protection.clear_cache()
        t0 = time.perf_counter()
        result = c.subjects.export(actor, "subject-1", "benchmark",
                                   Encryption(recipient=str(ident.to_public())))
        export_s = time.perf_counter() - t0
        members = verify_zip(pyrage.decrypt(result.content, [ident]))
        t0 = time.perf_counter()
        c.subjects.export(actor, "subject-1", "benchmark",
                          Encryption(passphrase="benchmark passphrase"))
        export_pass_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        receipt = c.subjects.erase(actor, "subject-1")
        erase_s = time.perf_counter() - t0

        for i in range(args.purge):
            c.sessions.create(actor, CreateSession(reference=f"p-{i}", workflow="document_only",
                                                   expires_in=900))
        clock.advance(3600)
        c.captures.sweep()  # abandoned
        clock.advance(31 * 86_400)
        dry0 = time.perf_counter()
        dry = c.retention.purge(dry_run=True)
        dry_s = time.perf_counter() - dry0
        t0 = time.perf_counter()
        report = c.retention.purge()
        purge_s = time.perf_counter() - t0
        purged = len(report.sessions["unsuccessful"])
        c.close()
    db = "PostgreSQL" if args.database_url else "SQLite"
    print(f"privacy ({db}): subject with {args.sessions} sessions "
          f"(set up in {setup:.1f} s; {result.images} images, "
          f"{sum(len(b) for b in members.values()) / 1e6:.1f} MB unencrypted)")
    print(f"  export to an age key   {export_s * 1000:8.0f} ms "
          f"({export_s / args.sessions * 1000:.1f} ms per session)")
    print(f"  export to a passphrase {export_pass_s * 1000:8.0f} ms (scrypt included)")
    print(f"  erase                  {erase_s * 1000:8.0f} ms "
          f"({receipt['totals']['data_keys_shredded']} keys shredded, "
          f"{erase_s / args.sessions * 1000:.1f} ms per session)")
    print(f"  purge dry run          {dry_s * 1000:8.0f} ms for "
          f"{len(dry.sessions['unsuccessful'])} sessions due")
    print(f"  purge                  {purge_s:8.2f} s  for {purged} sessions "
          f"({purged / purge_s:.0f} sessions/s)")


if __name__ == "__main__":
    main()
