"""In-process figures for bench/oauth_token.py: bearer verification and the grant use case."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path
from typing import Any

from _common import HOST, ops_per_second

SCOPES = "identity.verify"


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bench_in_process(tmp: Path, seconds: float) -> dict[str, float]:
    """Bearer verification and the token use case without HTTP, as the tests build them."""
    from idproof.auth import tokens
    from idproof.auth.oauth import OAuthRequest
    from idproof.bootstrap import prepare
    from idproof.config import Settings

    settings = Settings(data_dir=tmp / "in-process", secret_key=base64.b64encode(
        os.urandom(32)).decode(), public_url=f"http://{HOST}:8000")
    container = prepare(settings)
    container.audit_sequencer.start()  # as in `idproof serve`: grants only queue their event
    try:
        issued = container.clients.create("demo", SCOPES)
        req = OAuthRequest(form=[("grant_type", "client_credentials")],
                           authorization=basic_auth(issued.client.id, issued.secret),
                           ip=HOST)
        token = container.oauth.token(req)["access_token"]
        assert container.bearer.verify(token, HOST).client_id == issued.client.id

        verify_s = min(2.0, seconds)
        verify_rate, _ = ops_per_second(lambda: container.bearer.verify(token, HOST), verify_s)
        ks = container.keys.keyset()
        decode_rate, _ = ops_per_second(lambda: tokens.verify(
            token, container.keys.verifying_key, issuer=settings.issuer,
            audience=settings.auth.audience, now=int(time.time()), leeway=30,
            max_bytes=4096), min(1.0, seconds))
        mint_rate, _ = ops_per_second(lambda: tokens.mint(
            ks, issuer=settings.issuer, audience=settings.auth.audience,
            client_id=issued.client.id, tenant_id=issued.client.tenant_id, scopes=[SCOPES],
            now=int(time.time()), ttl=600), min(1.0, seconds))
        grant_rate, _ = ops_per_second(lambda: container.oauth.token(req), min(1.5, seconds),
                                       warmup=0.2)
        cached = concurrent_grants(container, req, min(1.5, seconds))
    finally:
        container.close()
    return {"bearer_verify_per_s": verify_rate, "bearer_verify_us": 1e6 / verify_rate,
            "jwt_verify_per_s": decode_rate, "jwt_verify_us": 1e6 / decode_rate,
            "jwt_mint_per_s": mint_rate, "jwt_mint_us": 1e6 / mint_rate,
            "oauth_token_per_s": grant_rate, "oauth_token_us": 1e6 / grant_rate,
            **cached}


def concurrent_grants(container: Any, req: Any, seconds: float,
                      concurrency: int = 32) -> dict[str, float]:
    """Grants as the endpoint serves them under load, in one process: `concurrency`
    coroutines on one event loop, each grant from the caches on the loop (`token_cached`,
    its audit INSERT batched), else the full use case in a thread. Best of 3 rounds, with
    the process's CPU time per grant (the writer and sequencer threads included)."""
    from starlette.concurrency import run_in_threadpool

    async def grant() -> None:
        if await container.oauth.token_cached(req) is None:
            await run_in_threadpool(container.oauth.token, req)

    async def round_(deadline: float) -> int:
        done = 0

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await grant()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done

    best_rate, best_cpu = 0.0, 0.0
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        n = asyncio.run(round_(wall + seconds / 3))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if n / wall > best_rate:
            best_rate, best_cpu = n / wall, cpu / n * 1e6
    return {"oauth_token_loop_per_s": best_rate, "oauth_token_loop_cpu_us": best_cpu}
