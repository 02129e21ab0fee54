"""The per-organization rate limit: at most `rate_limit_per_minute` requests in any 60 seconds (a sliding
window, so there is no burst of twice the budget at a window edge), as Zoho limits each organization.

A request counts once its token is verified (`enforce` runs at the end of `provide_principal`): counting
before would let anyone holding only an organization id spend that organization's budget with bad tokens.
Every limited response carries X-Rate-Limit-Limit, -Remaining and -Reset; a refusal is a 429 (code 44) with
Retry-After. Health checks and /docs never count: they do not ask for a principal.

The count lives in-process by default (each replica or worker has its own budget). With a Redis URL every
replica shares one budget in Redis, updated atomically by one Lua script. When Redis fails, requests are
still served, limited in-process until Redis answers again, and the failure is logged at most once a minute.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zcontacts.errors import TooManyRequests

if TYPE_CHECKING:
    from litestar import Request
    from redis.asyncio import Redis

    from zcontacts.config import Settings

log = logging.getLogger("zcontacts.ratelimit")

WINDOW_SECONDS = 60
# The scope key under which a counted request's budget waits for its response (api/observe.py adds the headers).
SCOPE_KEY = "zcontacts.rate_limit"
# After a Redis failure, how long to count in-process before trying Redis again (no timeout per request).
REDIS_RETRY_SECONDS = 5.0
# At most one log line per this many seconds about Redis being down.
LOG_EVERY_SECONDS = 60.0
_MAX_TRACKED = 100_000

# KEYS[1]: the organization's sorted set of request times (µs); ARGV: window µs, limit, a unique member.
# Redis's own clock is used, so replicas with skewed clocks still share one window.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local window_us = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - window_us)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now_us, ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window_us / 1000))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait_us = 0
if oldest[2] then wait_us = tonumber(oldest[2]) + window_us - now_us end
return {allowed, count, wait_us}
"""


@dataclass(frozen=True, slots=True)
class Budget:
    """The outcome of counting one request."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the oldest counted request leaves the window (and Remaining grows by one).
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The X-Rate-Limit-* headers (and Retry-After on a refusal)."""
        headers = [
            (b"x-rate-limit-limit", str(self.limit).encode()),
            (b"x-rate-limit-remaining", str(self.remaining).encode()),
            (b"x-rate-limit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(max(1, self.reset_seconds)).encode()))
        return headers


def _budget(allowed: bool, limit: int, count: int, wait_seconds: float) -> Budget:
    return Budget(allowed, limit, max(0, limit - count), max(0, math.ceil(wait_seconds)))


class LocalWindow:
    """Sliding-window counts of this process: per key, the times of the requests of the last window."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._times: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> Budget:
        """Count one request for `key` if the budget allows it."""
        now = time.monotonic() if now is None else now
        times = self._times.get(key)
        if times is None:
            if len(self._times) >= _MAX_TRACKED:
                self._forget_idle(now)
            times = self._times[key] = deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        # window - elapsed, not times[0] + window - now: that sum can round past the window (60.000…01 → 61).
        wait = self.window - (now - times[0]) if times else 0.0
        return _budget(allowed, self.limit, len(times), wait)

    def _forget_idle(self, now: float) -> None:
        self._times = {k: t for k, t in self._times.items() if t and t[-1] > now - self.window}


class RateLimiter:
    """Counts requests per organization: in Redis when configured and up, else in this process."""

    def __init__(self, limit: int, redis_url: str = "", prefix: str = "zcontacts") -> None:
        self.limit = limit
        self.local = LocalWindow(limit)
        self.redis: Redis | None = None
        # Exceptions that mean "Redis failed" (none until a Redis is configured).
        self._redis_errors: tuple[type[BaseException], ...] = ()
        if redis_url:
            # Imported only when configured: the redis package is a tenth of a second of every cold start.
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import RedisError

            self._redis_errors = (RedisError, OSError)
            self.redis = Redis.from_url(
                redis_url,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                # One immediate retry replaces a pooled connection Redis closed; more would only add delay.
                retry=Retry(NoBackoff(), 1),
            )
            self._script = self.redis.register_script(_SLIDING_WINDOW)
        self.prefix = f"{prefix}:ratelimit:"
        self._members = itertools.count()
        self._process = os.urandom(6).hex()
        self._redis_down_until = 0.0
        self._last_logged = -math.inf
        self.failures = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        """The limiter the settings ask for (None when the limit is off)."""
        if settings.rate_limit_per_minute <= 0:
            return None
        return cls(settings.rate_limit_per_minute, settings.redis_url, settings.redis_prefix)

    async def hit(self, organization_id: str) -> Budget:
        """Count one request of the organization."""
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return self.local.hit(organization_id)
        member = f"{self._process}:{next(self._members)}"
        try:
            allowed, count, wait_us = await self._script(
                keys=[self.prefix + organization_id], args=[WINDOW_SECONDS * 1_000_000, self.limit, member]
            )
        except self._redis_errors as exc:
            self._redis_failed(exc)
            return self.local.hit(organization_id)
        if self._redis_down_until:
            self._redis_down_until = 0.0
            self._last_logged = -math.inf  # the next outage is news, however soon it comes
            log.warning("rate limit: Redis answers again; the budget is shared across replicas again")
        return _budget(bool(allowed), self.limit, int(count), int(wait_us) / 1_000_000)

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        self._redis_down_until = now + REDIS_RETRY_SECONDS
        if now - self._last_logged >= LOG_EVERY_SECONDS:
            self._last_logged = now
            log.warning(
                "rate limit: Redis unreachable (%s: %s); requests are still served, limited per process, "
                "until it answers (%d failure(s) so far)",
                type(exc).__name__,
                exc,
                self.failures,
            )

    async def close(self) -> None:
        """Close the Redis connections."""
        if self.redis is not None:
            await self.redis.aclose()


async def enforce(request: Request[Any, Any, Any], organization_id: str) -> None:
    """Count an authenticated request against its organization's budget; 429 when the budget is spent."""
    limiter: RateLimiter | None = request.app.state.get("rate_limiter")
    if limiter is None:
        return
    budget = await limiter.hit(organization_id)
    request.scope[SCOPE_KEY] = budget  # type: ignore[literal-required]
    if not budget.allowed:
        raise TooManyRequests()
