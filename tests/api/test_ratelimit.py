"""The per-organization rate limit: the budget, its headers, 429 with Retry-After, separate budgets per
organization, counting only authenticated calls, a budget shared through Redis, and Redis going away."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.e2e.server import free_port
from tests.helpers import CONTACTS, Tenant, assert_error, make_tenant
from zcontacts.api.ratelimit import LocalWindow
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.database import Database

LIMIT = 3
Clients = Callable[..., Any]


@pytest.fixture
def limited(database_url: str) -> Iterator[Clients]:
    """Opens apps with the rate limit on (`limit` per minute, optionally in Redis); closes them after."""
    opened: list[Any] = []

    def open_client(limit: int = LIMIT, **settings: Any) -> Any:
        app = create_app(
            Settings(
                database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=limit, **settings
            )
        )
        client = TestClient(app=app).__enter__()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.__exit__(None, None, None)


def _limit_headers(response: Any) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["x-rate-limit-limit"]),
        int(headers["x-rate-limit-remaining"]),
        int(headers["x-rate-limit-reset"]),
    )


def test_the_budget_is_spent_then_429_with_retry_after(limited: Clients, tenant: Tenant) -> None:
    client = limited()
    for remaining in range(LIMIT - 1, -1, -1):
        response = client.get(CONTACTS, headers=tenant.headers)
        assert response.status_code == 200
        limit, left, reset = _limit_headers(response)
        assert (limit, left) == (LIMIT, remaining)
        assert 1 <= reset <= 60
        assert "retry-after" not in response.headers
    refused = client.get(CONTACTS, headers=tenant.headers)
    assert_error(refused, 429, 44, "too many requests")
    assert _limit_headers(refused)[:2] == (LIMIT, 0)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # A refused call is not counted, and writes are refused the same way (nothing is created).
    created = client.post(CONTACTS, json={"contact_name": "Too Late"}, headers=tenant.headers)
    assert_error(created, 429, 44)


def test_every_operation_counts_and_carries_the_headers(limited: Clients, tenant: Tenant) -> None:
    client = limited(limit=10)
    created = client.post(CONTACTS, json={"contact_name": "Counted"}, headers=tenant.headers)
    url = f"{CONTACTS}/{created.json()['contact']['contact_id']}"
    calls = [
        created,
        client.get(url, headers=tenant.headers),
        client.put(url, json={"notes": "x"}, headers=tenant.headers),
        client.post(CONTACTS, json={"contact_name": ""}, headers=tenant.headers),  # a 400 counts too
        client.delete(url, headers=tenant.headers),
    ]
    assert [c.status_code for c in calls] == [201, 200, 200, 400, 200]
    assert [_limit_headers(c)[1] for c in calls] == [9, 8, 7, 6, 5]


def test_organizations_have_separate_budgets(limited: Clients, database: Database, tenant: Tenant) -> None:
    client = limited()
    other = make_tenant(database, name="Other")
    for _ in range(LIMIT):
        assert client.get(CONTACTS, headers=tenant.headers).status_code == 200
    assert client.get(CONTACTS, headers=tenant.headers).status_code == 429
    response = client.get(CONTACTS, headers=other.headers)
    assert response.status_code == 200
    assert _limit_headers(response)[1] == LIMIT - 1


def test_unauthenticated_calls_do_not_spend_the_budget(limited: Clients, tenant: Tenant) -> None:
    client = limited()
    forged = {**tenant.headers, "Authorization": "Zoho-oauthtoken 1000.forged"}
    for _ in range(LIMIT * 3):
        response = client.get(CONTACTS, headers=forged)
        assert_error(response, 401, 57)
        assert "x-rate-limit-limit" not in response.headers
    assert _limit_headers(client.get(CONTACTS, headers=tenant.headers))[1] == LIMIT - 1


def test_health_and_docs_are_never_limited(limited: Clients, tenant: Tenant) -> None:
    client = limited(limit=1)
    assert client.get(CONTACTS, headers=tenant.headers).status_code == 200
    assert client.get(CONTACTS, headers=tenant.headers).status_code == 429
    for path in ("/healthz", "/readyz", "/docs/openapi.json", "/healthz", "/readyz"):
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 200, path
        assert "x-rate-limit-limit" not in response.headers


def test_a_limit_of_zero_turns_it_off(limited: Clients, tenant: Tenant) -> None:
    client = limited(limit=0)
    for _ in range(5):
        response = client.get(CONTACTS, headers=tenant.headers)
        assert response.status_code == 200
        assert "x-rate-limit-limit" not in response.headers


def test_the_setting_defaults_to_zohos_100_and_reads_the_environment() -> None:
    assert Settings().rate_limit_per_minute == 100
    environ = {"ZCONTACTS_RATE_LIMIT_PER_MINUTE": "0", "ZCONTACTS_REDIS_URL": "redis://r:6379/1"}
    settings = Settings.from_env(environ)
    assert (settings.rate_limit_per_minute, settings.redis_url) == (0, "redis://r:6379/1")


def test_the_reset_never_exceeds_the_window() -> None:
    # 474.6243991050614 + 60 - 474.6243991050614 is 60.00000000000006 in floating point (once rounded up to 61).
    now = 474.6243991050614
    assert LocalWindow(limit=3, window=60).hit("org", now=now).reset_seconds == 60


def test_the_window_slides() -> None:
    window = LocalWindow(limit=3, window=60)
    assert [window.hit("org", now=t).allowed for t in (0, 10, 20)] == [True, True, True]
    refused = window.hit("org", now=30)
    assert (refused.allowed, refused.remaining, refused.reset_seconds) == (False, 0, 30)
    assert window.hit("org", now=59.9).allowed is False
    again = window.hit("org", now=60.5)  # the call at 0 has left the window; the one at 10 is next
    assert (again.allowed, again.remaining, again.reset_seconds) == (True, 0, 10)
    assert window.hit("other", now=60.5).remaining == 2


# ---- Redis ------------------------------------------------------------------------------------------------


def test_replicas_share_one_budget_in_redis(
    limited: Clients, tenant: Tenant, redis_url: str, database: Database
) -> None:
    prefix = f"zcontacts-test-{uuid.uuid4().hex}"
    first = limited(redis_url=redis_url, redis_prefix=prefix)
    second = limited(redis_url=redis_url, redis_prefix=prefix)
    statuses = [(first if i % 2 else second).get(CONTACTS, headers=tenant.headers) for i in range(LIMIT + 2)]
    assert [r.status_code for r in statuses] == [200] * LIMIT + [429, 429]
    assert [_limit_headers(r)[1] for r in statuses[:LIMIT]] == list(range(LIMIT - 1, -1, -1))
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 60
    # Another organization, and another deployment (prefix) on the same Redis, have budgets of their own.
    other = make_tenant(database, name="Other")
    assert first.get(CONTACTS, headers=other.headers).status_code == 200
    elsewhere = limited(redis_url=redis_url, redis_prefix=prefix + "-elsewhere")
    assert elsewhere.get(CONTACTS, headers=tenant.headers).status_code == 200


def _redis_that_is_down() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_with_redis_down_requests_are_served_and_the_failure_logged_once(
    limited: Clients, tenant: Tenant
) -> None:
    # A handler on the module's own logger: the app's logging setup replaces the root handlers caplog uses.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("zcontacts.ratelimit")
    logger.addHandler(handler)
    try:
        client = limited(limit=100, redis_url=_redis_that_is_down())
        responses = [client.get(CONTACTS, headers=tenant.headers) for _ in range(5)]
    finally:
        logger.removeHandler(handler)
    assert [r.status_code for r in responses] == [200] * 5
    assert [_limit_headers(r)[1] for r in responses] == [99, 98, 97, 96, 95]  # counted in-process meanwhile
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "Redis unreachable" in records[0].getMessage()
    assert "still served" in records[0].getMessage()


def test_with_redis_down_the_limit_still_holds_per_process(limited: Clients, tenant: Tenant) -> None:
    client = limited(redis_url=_redis_that_is_down())
    statuses = [client.get(CONTACTS, headers=tenant.headers).status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


def test_an_outage_after_a_recovery_is_logged_again() -> None:
    """Once a minute at most while Redis stays down, but a new outage after Redis answered again is news."""
    import asyncio
    import time

    from zcontacts.api import ratelimit

    limiter = ratelimit.RateLimiter(10, redis_url=_redis_that_is_down())
    up = [False]

    async def script(keys: Any, args: Any) -> list[int]:
        if not up[0]:
            raise ConnectionError("down")
        return [1, 1, 0]

    limiter._script = script  # type: ignore[assignment]
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("zcontacts.ratelimit")
    logger.addHandler(handler)

    async def scenario() -> None:
        await limiter.hit("1")  # down: logged
        limiter._redis_down_until = time.monotonic() - 1  # the retry pause is over
        await limiter.hit("1")  # still down: not logged again within the minute
        limiter._redis_down_until = time.monotonic() - 1
        up[0] = True
        await limiter.hit("1")  # answers again: logged
        up[0] = False
        await limiter.hit("1")  # down again, seconds later: logged
        await limiter.close()

    try:
        asyncio.run(scenario())
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert ["unreachable" in m for m in messages] == [True, False, True], messages
    assert "answers again" in messages[1]


def test_the_banner_says_when_redis_does_not_answer(redis_url: str) -> None:
    from zcontacts.cli import _rate_limit_summary
    from zcontacts.config import Settings

    down = Settings.from_env({"ZCONTACTS_REDIS_URL": _redis_that_is_down()})
    assert _rate_limit_summary(down).endswith("(Redis does not answer: per process until it does)")
    up = Settings.from_env({"ZCONTACTS_REDIS_URL": redis_url})
    assert _rate_limit_summary(up).endswith("(shared in Redis)")
