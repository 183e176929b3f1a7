"""Brute-force limits: failed client authentications per IP and per client; bad bearer tokens.

Counters live in a `limits` storage: in memory for one process, Redis when configured so that
every replica sees the same failures and the same block.

Three separate counters, because they protect different things and must not hurt each other:

- failed client authentications per IP: block that IP on the credential endpoints (`/oauth`,
  `/v1`); health checks and the hosted pages stay open, since end users may share the address;
- failed client authentications per client (existing clients only, so an attacker cannot grow
  the key space): block that client's authentication from every address;
- rejected bearer tokens per token issuer (the client a token names, or the IP for tokens that
  name none): a higher limit answered with 429 for further *invalid* tokens only. A bearer
  token cannot be guessed, so these are a stuck client or noise, not a brute-force signal; they
  never block a valid token, another credential, an IP or a page.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import Any

import anyio.to_thread
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from idproof.core.channel import Channel
from idproof.security.rate_limit import sync_storage

_NS = "idproof-bf"


class BruteForceGuard:
    def __init__(self, storage_uri: str, *, max_failures: int, window_seconds: int,
                 block_seconds: int, client_max_failures: int = 100,
                 client_window_seconds: int = 600, bearer_max_failures: int = 300,
                 bearer_window_seconds: int = 60,
                 failed: Channel[tuple[str, str | None]] | None = None) -> None:
        self.storage: Storage = sync_storage(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._item = RateLimitItemPerSecond(max_failures, window_seconds, namespace=_NS)
        self._client_item = RateLimitItemPerSecond(client_max_failures, client_window_seconds,
                                                   namespace=_NS)
        self._bearer_item = RateLimitItemPerSecond(bearer_max_failures, bearer_window_seconds,
                                                   namespace=_NS)
        self._bearer_window = bearer_window_seconds
        self._block_seconds = block_seconds
        # Failed client authentications, (ip, tenant id or None), for the detectors.
        self.failed = failed or Channel[tuple[str, str | None]]("auth.failed")
        self._tenants: dict[str, tuple[float, str]] = {}  # memory storage: ip -> tenant
        self._storage_uri = storage_uri
        # asyncio Redis clients (bound to their event loop) for the checks on the request path.
        self._aredis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary())

    def _notify(self, ip: str, tenant_id: str | None) -> None:
        self.failed.publish((ip, tenant_id))

    def _redis(self) -> object | None:
        return None if isinstance(self.storage, MemoryStorage) else getattr(
            self.storage, "storage", None)

    def _remember_tenant(self, ip: str, tenant_id: str) -> None:
        """The tenant whose client an address last failed against (to address its alert)."""
        r = self._redis()
        if r is not None:
            r.set(f"{_NS}:tenant:{ip}", tenant_id, ex=self._block_seconds)  # type: ignore[attr-defined]
        else:
            self._tenants[ip] = (time.time() + self._block_seconds, tenant_id)

    def last_tenant(self, ip: str) -> str | None:
        r = self._redis()
        if r is not None:
            v = r.get(f"{_NS}:tenant:{ip}")  # type: ignore[attr-defined]
            return v.decode() if isinstance(v, bytes) else v
        hit = self._tenants.get(ip)
        return hit[1] if hit and hit[0] > time.time() else None

    def refused_attempt(self, ip: str) -> None:
        """A credential request refused at the edge because `ip` is blocked: still a failed
        authentication attempt for the detectors (not counted toward a new block)."""
        self._notify(ip, self.last_tenant(ip))

    def block(self, ip: str, seconds: int | None = None) -> None:
        """Block `ip` for `seconds` (default the block period) from now."""
        self.storage.clear(self._block_key(ip))
        self.storage.incr(self._block_key(ip), seconds or self._block_seconds)

    def blocks(self) -> list[tuple[str, int]]:
        """The blocked addresses and their seconds left (Redis: every worker's; memory: this
        process's own)."""
        out: list[tuple[str, int]] = []
        r = self._redis()
        prefix = f"{_NS}/block/"
        if r is not None:
            pattern = f"{getattr(self.storage, 'key_prefix', 'LIMITS')}:{prefix}*"
            names = [k.decode() if isinstance(k, bytes) else k
                     for k in r.scan_iter(match=pattern)]  # type: ignore[attr-defined]
            ips = [n.split(prefix, 1)[1] for n in names]
        else:
            ips = [k[len(prefix):] for k in getattr(self.storage, "storage", {})
                   if str(k).startswith(prefix)]
        for ip in ips:
            left = self.retry_after(ip)
            if left is not None:
                out.append((ip, left))
        return sorted(out)

    @staticmethod
    def _block_key(ip: str) -> str:
        return f"{_NS}/block/{ip}"

    @staticmethod
    def _client_block_key(client_id: str) -> str:
        return f"{_NS}/client-block/{client_id}"

    def _remaining(self, key: str) -> int | None:
        if self.storage.get(key) <= 0:
            return None
        return max(1, math.ceil(self.storage.get_expiry(key) - time.time()))

    async def _remaining_async(self, key: str) -> int | None:
        """`_remaining` for a coroutine: memory storage is read in place (no I/O); Redis with
        one pipelined GET and TTL on an asyncio client, so the event loop never waits on a
        socket; any other storage in a worker thread."""
        if isinstance(self.storage, MemoryStorage):
            return self._remaining(key)
        if not isinstance(self.storage, RedisStorage):
            return await anyio.to_thread.run_sync(self._remaining, key)
        full = self.storage.prefixed_key(key)
        async with self._async_redis().pipeline(transaction=False) as pipe:
            count, ttl = await pipe.get(full).ttl(full).execute()
        if int(count or 0) <= 0:
            return None
        return max(1, math.ceil(max(int(ttl), 0)))

    def _async_redis(self) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._aredis.get(loop)
        if client is None:
            client = self._aredis[loop] = redis.asyncio.Redis.from_url(
                self._storage_uri.replace("redis+unix", "unix"))
        return client

    async def retry_after_async(self, ip: str) -> int | None:
        """`retry_after` without blocking the event loop."""
        return await self._remaining_async(self._block_key(ip))

    async def client_retry_after_async(self, client_id: str) -> int | None:
        """`client_retry_after` without blocking the event loop."""
        return await self._remaining_async(self._client_block_key(client_id))

    # -- per IP ----------------------------------------------------------------------------
    def retry_after(self, ip: str) -> int | None:
        """Seconds until `ip` is unblocked, or None when it is not blocked."""
        return self._remaining(self._block_key(ip))

    def register_failure(self, ip: str, tenant_id: str | None = None) -> bool:
        """Count a failed client authentication; True exactly when this one starts a block."""
        if tenant_id is not None:
            self._remember_tenant(ip, tenant_id)
        started = self._count(self._item, "fail", ip, self._block_key(ip))
        self._notify(ip, tenant_id)
        return started

    def unblock(self, ip: str) -> None:
        self.storage.clear(self._block_key(ip))
        self._limiter.clear(self._item, "fail", ip)

    # -- per client ------------------------------------------------------------------------
    def client_retry_after(self, client_id: str) -> int | None:
        """Seconds until `client_id` may authenticate again, or None when it may now."""
        return self._remaining(self._client_block_key(client_id))

    def register_client_failure(self, client_id: str) -> bool:
        """Count a failed authentication of an existing client; True when it starts a block."""
        return self._count(self._client_item, "client-fail", client_id,
                           self._client_block_key(client_id))

    def unblock_client(self, client_id: str) -> None:
        self.storage.clear(self._client_block_key(client_id))
        self._limiter.clear(self._client_item, "client-fail", client_id)

    def _count(self, item: RateLimitItemPerSecond, kind: str, who: str, block_key: str) -> bool:
        self._limiter.hit(item, kind, who)
        if self._limiter.test(item, kind, who):
            return False
        if self.storage.get(block_key) > 0:
            return False
        self.storage.incr(block_key, self._block_seconds)
        self._limiter.clear(item, kind, who)
        return True

    # -- bearer tokens ---------------------------------------------------------------------
    def register_bearer_failure(self, issuer: str) -> tuple[int | None, bool]:
        """Count a rejected bearer token of `issuer`.

        Returns (retry_after, started): retry_after is None while under the limit, else the
        seconds until the window has room again; started is True for the first refusal of a
        window (worth one audit event, not one per request).
        """
        if self._limiter.hit(self._bearer_item, "bearer", issuer):
            return None, False
        stats = self._limiter.get_window_stats(self._bearer_item, "bearer", issuer)
        retry = max(1, min(self._bearer_window, math.ceil(stats.reset_time - time.time())))
        flag = f"{_NS}/bearer-throttled/{issuer}"
        started = self.storage.incr(flag, self._bearer_window) == 1
        return retry, started
