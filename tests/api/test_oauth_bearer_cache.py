"""The bearer check's cache of verified tokens: bounded, and never a way around revocation,
a disabled client, expiry or a retired signing key."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from idproof.auth.bearer import BearerRejected
from idproof.bootstrap import build_container
from idproof.core.clock import FrozenClock
from tests.helpers import get_token

IP = "127.0.0.1"


def test_cache_is_bounded(api, make_client, container) -> None:
    c = make_client()
    container.bearer.cache.max_entries = 5
    tokens = [get_token(api, c) for _ in range(12)]
    for token in tokens:
        container.bearer.verify(token, IP)
        assert len(container.bearer.cache) <= 5
    assert len(container.bearer.cache) == 5
    # evicted tokens are simply checked again in full
    for token in tokens:
        assert container.bearer.verify(token, IP).client_id == c.client_id
    assert len(container.bearer.cache) == 5


def test_a_token_is_checked_in_full_once(api, make_client, container, monkeypatch) -> None:
    c = make_client()
    token = get_token(api, c)
    calls = []
    from idproof.auth import bearer as bearer_module

    real = bearer_module.tokens.verify
    monkeypatch.setattr(bearer_module.tokens, "verify",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(5):
        container.bearer.verify(token, IP)
    assert len(calls) == 1


def test_invalid_tokens_are_not_cached(api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(3):
        with pytest.raises(BearerRejected):
            container.bearer.verify(forged, IP)
    assert len(container.bearer.cache) == 0


def test_revocation_refused_at_once_after_caching(api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c)
    container.bearer.verify(token, IP)  # cached now
    api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
    with pytest.raises(BearerRejected) as exc:
        container.bearer.verify(token, IP)
    assert exc.value.reason == "revoked"


def test_revocation_seen_by_another_process_within_a_second(settings, api, make_client,
                                                             container) -> None:
    """A second container on the same database (another worker) with the default poll."""
    assert settings.auth.revocation_cache_seconds <= 1.0
    c = make_client()
    token = get_token(api, c)
    replica = build_container(settings, FrozenClock())
    try:
        assert replica.bearer.verify(token, IP).client_id == c.client_id  # cached there
        api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
        deadline = time.monotonic() + 1.0
        while True:
            try:
                replica.bearer.verify(token, IP)
            except BearerRejected as exc:
                assert exc.reason == "revoked"
                break
            assert time.monotonic() < deadline, "the replica still accepts a revoked token"
            time.sleep(0.05)
    finally:
        replica.close()


def test_disabled_client_refused_after_caching(settings, api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c)
    replica = build_container(settings, FrozenClock())
    try:
        container.bearer.verify(token, IP)
        replica.bearer.verify(token, IP)
        container.clients.disable(c.client_id)
        with pytest.raises(BearerRejected) as exc:
            container.bearer.verify(token, IP)
        assert exc.value.reason == "client_disabled"
        deadline = time.monotonic() + 1.0
        while True:
            try:
                replica.bearer.verify(token, IP)
            except BearerRejected as exc:
                assert exc.reason == "client_disabled"
                break
            assert time.monotonic() < deadline, "the replica still accepts a disabled client"
            time.sleep(0.05)
    finally:
        replica.close()


def test_cached_token_expires(api, make_client, container, clock) -> None:
    c = make_client()
    token = get_token(api, c)
    container.bearer.verify(token, IP)
    clock.advance(600 + 31)
    with pytest.raises(BearerRejected) as exc:
        container.bearer.verify(token, IP)
    assert exc.value.reason == "expired"
    assert len(container.bearer.cache) == 0


def test_cached_token_of_a_retired_key_refused(api, make_client, container,
                                               monkeypatch) -> None:
    c = make_client()
    token = get_token(api, c)
    container.bearer.verify(token, IP)
    ring = container.keys.keyset()
    retired = dataclasses.replace(ring, verifying={})  # its key left the ring
    monkeypatch.setattr(container.keys, "keyset", lambda: retired)
    monkeypatch.setattr(container.keys, "verifying_key", lambda kid: None)
    with pytest.raises(BearerRejected) as exc:
        container.bearer.verify(token, IP)
    assert exc.value.reason == "unknown_kid"


def test_async_check_reads_the_views_off_the_event_loop(settings, api, make_client,
                                                        container) -> None:
    """`verify_async` (the /v1 routes' path) sees another worker's revocation and disabling
    as `verify` does, and its view refreshes read the database in a worker thread."""
    c, d = make_client(), make_client()
    token, other = get_token(api, c), get_token(api, d)
    replica = build_container(settings, FrozenClock())
    reads: list[int] = []
    read = replica.db.read

    def spy():  # type: ignore[no-untyped-def]
        reads.append(threading.get_ident())  # the real read still happens
        return read()

    replica.db.read = spy  # type: ignore[method-assign]

    async def until_refused(tok: str) -> tuple[int, str]:
        deadline = time.monotonic() + 1.0
        while True:
            try:
                await replica.bearer.verify_async(tok, IP)
            except BearerRejected as exc:
                return threading.get_ident(), exc.reason
            assert time.monotonic() < deadline, "the replica still accepts the token"
            await asyncio.sleep(0.05)

    try:
        assert asyncio.run(replica.bearer.verify_async(token, IP)).client_id == c.client_id
        api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
        container.clients.disable(d.client_id)
        loop_thread, reason = asyncio.run(until_refused(token))
        assert reason == "revoked"
        assert asyncio.run(until_refused(other))[1] == "client_disabled"
        assert reads and loop_thread not in reads
    finally:
        replica.close()


def _count_calls(obj: object, name: str) -> list[int]:
    """Replace `obj.name` by itself plus a count of its calls (the list returned)."""
    calls: list[int] = []
    real = getattr(obj, name)

    def counted() -> None:
        calls.append(1)
        real()

    setattr(obj, name, counted)
    return calls


def test_async_check_refreshes_its_views_ahead(settings, api, make_client, container) -> None:
    """In the second half of their interval, the views are re-read by one worker thread that
    no request waits for: another worker's revocation and disabling are seen before the views
    would have gone stale, and twenty requests at once start one re-read, not twenty."""
    long = settings.model_copy(deep=True)
    long.auth.revocation_cache_seconds = long.auth.client_cache_seconds = 10.0
    c, d = make_client(), make_client()
    token, other = get_token(api, c), get_token(api, d)
    replica = build_container(long, FrozenClock())
    revocations, clients = replica.bearer._revocations, replica.clients
    ahead_calls = _count_calls(revocations, "refresh_ahead")

    def second_half() -> None:
        # 2 s of the views' 10 left: due for a re-read ahead, not yet stale.
        revocations._next_poll = time.monotonic() + 2.0
        for cid in (c.client_id, d.client_id):
            _expires, view = clients._cache[cid]
            clients._cache[cid] = (time.monotonic() + 2.0, view)
        assert revocations.ahead_due() and not revocations.poll_due()

    async def until_refused(tok: str) -> str:
        deadline = time.monotonic() + 1.5  # before the 2 s left would make them stale
        while True:
            try:
                await replica.bearer.verify_async(tok, IP)
            except BearerRejected as exc:
                return exc.reason
            assert time.monotonic() < deadline, "the view was not re-read ahead"
            await asyncio.sleep(0.02)

    async def twenty_at_once() -> None:
        await asyncio.gather(*(replica.bearer.verify_async(token, IP) for _ in range(20)))

    try:
        asyncio.run(replica.bearer.verify_async(token, IP))  # views read, token cached
        asyncio.run(replica.bearer.verify_async(other, IP))
        second_half()
        asyncio.run(twenty_at_once())
        assert len(ahead_calls) == 1
        api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
        container.clients.disable(d.client_id)
        second_half()
        assert asyncio.run(until_refused(token)) == "revoked"
        assert asyncio.run(until_refused(other)) == "client_disabled"
    finally:
        replica.close()


def test_async_check_reads_the_key_ring_ahead(settings, api, make_client, container) -> None:
    """A key rotation in another worker reaches this one's ring ahead of its expiry, read by
    one background re-read however many requests notice."""
    c = make_client()
    token = get_token(api, c)
    replica = build_container(settings, FrozenClock())
    ring = replica.keys
    calls = _count_calls(ring, "refresh_ahead")

    async def twenty_at_once() -> None:
        await asyncio.gather(*(replica.bearer.verify_async(token, IP) for _ in range(20)))

    try:
        before = ring.keyset().current_kid
        new_kid = container.keys.rotate()
        assert new_kid != before
        _expires, keyset = ring._cached  # type: ignore[misc]
        ring._cached = (time.monotonic() + 2.0, keyset)  # 2 s of 5 left: not yet stale
        assert ring.ahead_due() and not ring.refresh_due()
        asyncio.run(twenty_at_once())  # the token, signed by the previous key, still passes
        assert len(calls) == 1
        assert ring.keyset().current_kid == new_kid  # read ahead, not at expiry
    finally:
        replica.close()
