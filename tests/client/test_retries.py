"""The client's retry, error and token logic against scripted responses (httpx.MockTransport): no server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers import reference
from zcontacts.client import (
    AsyncClient,
    BadRequest,
    Client,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unauthorized,
)
from zcontacts.client.errors import NO_CODE

BASE = "http://zc.test"
CONTACT = reference("get_response")["contact"]


def ok_contact() -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "message": "success", "contact": CONTACT})


def zoho_error(status: int, code: int, message: str = "no", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message}, headers=headers)


class Script:
    """Answers requests with the given responses in turn, and remembers the requests."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        return answer(request) if callable(answer) else answer


def make_client(script: Script, sleeps: list[float], **options: Any) -> Client:
    options.setdefault("token", "1000.t")
    return Client(
        BASE,
        organization_id="10234695",
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        seed=1,
        **options,
    )


def test_a_429_waits_the_retry_after_the_server_gives_then_succeeds() -> None:
    script = Script(zoho_error(429, 44, "too many", **{"Retry-After": "7"}), ok_contact())
    sleeps: list[float] = []
    with make_client(script, sleeps) as client:
        contact = client.get_contact(CONTACT["contact_id"])
    assert contact.contact_name == CONTACT["contact_name"]
    assert sleeps == [7.0]
    assert len(script.requests) == 2


def test_5xx_on_get_backs_off_exponentially_with_jitter_within_the_policy() -> None:
    script = Script(zoho_error(503, 1000), zoho_error(502, 1000), zoho_error(500, 1000), ok_contact())
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=4, backoff=1.0, max_backoff=30.0)
    with make_client(script, sleeps, retry=policy) as client:
        client.get_contact("1")
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps, start=1):
        assert 0 <= slept <= 2 ** (attempt - 1)
    assert len(set(sleeps)) == 3  # jittered, not a fixed schedule


def test_attempts_are_bounded_and_the_last_error_is_raised_with_its_code() -> None:
    script = Script(*[zoho_error(500, 1000, "Internal error")] * 3)
    sleeps: list[float] = []
    with (
        make_client(script, sleeps, retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.list_contacts()
    assert (caught.value.code, caught.value.status, caught.value.message) == (1000, 500, "Internal error")
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_a_post_is_not_retried_on_5xx_without_an_idempotency_key() -> None:
    script = Script(zoho_error(503, 1000))
    with make_client(script, []) as client, pytest.raises(ServerError):
        client.create_contact({"contact_name": "Kenny"})
    assert len(script.requests) == 1


def test_a_post_with_an_idempotency_key_is_retried_on_5xx_and_sends_the_key_each_time() -> None:
    created = httpx.Response(201, json={"code": 0, "message": "created", "contact": CONTACT})
    script = Script(zoho_error(503, 1000), created)
    with make_client(script, []) as client:
        client.create_contact({"contact_name": "Kenny"}, idempotency_key="key-1")
    assert [r.headers.get("Idempotency-Key") for r in script.requests] == ["key-1", "key-1"]


def test_a_post_is_retried_on_429() -> None:
    created = httpx.Response(201, json={"code": 0, "message": "created", "contact": CONTACT})
    script = Script(zoho_error(429, 44, **{"Retry-After": "1"}), created)
    sleeps: list[float] = []
    with make_client(script, sleeps) as client:
        assert client.create_contact({"contact_name": "Kenny"}).contact_id == CONTACT["contact_id"]
    assert sleeps == [1.0]


def test_a_retry_after_beyond_the_policy_raises_at_once_with_the_hint() -> None:
    script = Script(zoho_error(429, 44, **{"Retry-After": "3600"}))
    with (
        make_client(script, [], retry=RetryPolicy(max_retry_after=60)) as client,
        pytest.raises(RateLimited) as caught,
    ):
        client.get_contact("1")
    assert caught.value.retry_after == 3600.0
    assert caught.value.code == 44


def test_a_lost_connection_before_sending_is_retried_even_for_post() -> None:
    created = httpx.Response(201, json={"code": 0, "message": "created", "contact": CONTACT})

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Script(refuse, created)
    with make_client(script, []) as client:
        client.create_contact({"contact_name": "Kenny"})
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(404, 1002, NotFound), (400, 3062, BadRequest), (401, 57, Unauthorized)],
)
def test_refusals_raise_the_class_of_their_status_carrying_zohos_code(
    status: int, code: int, kind: type[Exception]
) -> None:
    script = Script(zoho_error(status, code, "refused"))
    with make_client(script, []) as client, pytest.raises(kind) as caught:
        client.get_contact("1")
    assert caught.value.code == code
    assert caught.value.status == status
    assert len(script.requests) == 1  # 4xx is never retried


def test_a_non_zoho_error_body_still_raises_with_its_status() -> None:
    script = Script(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with (
        make_client(script, [], retry=RetryPolicy(max_attempts=1)) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.get_contact("1")
    assert caught.value.code == NO_CODE
    assert "Bad Gateway" in caught.value.message


def token(access: str) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": access, "api_domain": BASE, "token_type": "Bearer", "expires_in": 3600}
    )


def oauth_client(script: Script) -> Client:
    return make_client(script, [], token=None, client_id="1000.C", client_secret="s", refresh_token="1000.r")


def test_oauth_credentials_fetch_a_token_first_and_refresh_it_once_on_401_code_57() -> None:
    script = Script(token("1000.a1"), zoho_error(401, 57), token("1000.a2"), ok_contact())
    with oauth_client(script) as client:
        client.get_contact("1")
    token_calls = [r for r in script.requests if r.url.path == "/oauth/v2/token"]
    assert [r.url.params["grant_type"] for r in token_calls] == ["refresh_token", "refresh_token"]
    assert token_calls[0].url.params["refresh_token"] == "1000.r"
    api_calls = [r for r in script.requests if r.url.path != "/oauth/v2/token"]
    assert [r.headers["Authorization"] for r in api_calls] == [
        "Zoho-oauthtoken 1000.a1",
        "Zoho-oauthtoken 1000.a2",
    ]


def test_a_second_401_after_refreshing_is_raised_not_looped() -> None:
    script = Script(token("1000.a1"), zoho_error(401, 57), token("1000.a2"), zoho_error(401, 57))
    with oauth_client(script) as client, pytest.raises(Unauthorized):
        client.get_contact("1")
    assert len(script.requests) == 4


def test_without_credentials_a_401_is_raised_at_once() -> None:
    script = Script(zoho_error(401, 57))
    with make_client(script, []) as client, pytest.raises(Unauthorized):
        client.get_contact("1")
    assert len(script.requests) == 1


def test_iter_contacts_follows_page_context_and_passes_filters() -> None:
    summary = reference("list_response")["customers"][0]

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return httpx.Response(200, json={
            "code": 0, "message": "success",
            "customers": [{**summary, "contact_id": str(number)}],
            "page_context": {"page": number, "per_page": 1, "has_more_page": number < 3,
                             "applied_filter": "Status.All", "sort_column": "contact_name", "sort_order": "A"},
        })  # fmt: skip

    script = Script(page, page, page)
    with make_client(script, []) as client:
        ids = [c.contact_id for c in client.iter_contacts(per_page=1, search_text="ken")]
    assert ids == ["1", "2", "3"]
    assert {r.url.params["search_text"] for r in script.requests} == {"ken"}


def test_books_flavour_uses_its_prefix_and_list_key_and_the_organization_parameter() -> None:
    summary = reference("list_response")["customers"][0]
    script = Script(httpx.Response(200, json={
        "code": 0, "message": "success", "contacts": [summary],
        "page_context": {"page": 1, "per_page": 200, "has_more_page": False, "applied_filter": "Status.All",
                         "sort_column": "contact_name", "sort_order": "A"},
    }))  # fmt: skip
    with make_client(script, [], flavour="books") as client:
        assert len(client.list_contacts().contacts) == 1
    assert script.requests[0].url.path == "/books/v3/contacts"
    assert script.requests[0].url.params["organization_id"] == "10234695"


def test_the_async_client_retries_a_429_the_same_way() -> None:
    script = Script(zoho_error(429, 44, **{"Retry-After": "3"}), ok_contact())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def run() -> str:
        async with AsyncClient(
            BASE, organization_id="1", token="1000.t", transport=httpx.MockTransport(script), sleep=sleep
        ) as client:
            return (await client.get_contact("1")).contact_id

    assert asyncio.run(run()) == CONTACT["contact_id"]
    assert sleeps == [3.0]


def test_a_client_needs_a_token_or_complete_oauth_credentials() -> None:
    with pytest.raises(ValueError, match="token"):
        Client(BASE, organization_id="1")
    with pytest.raises(ValueError, match="together"):
        Client(BASE, organization_id="1", client_id="1000.C")


def test_a_success_that_does_not_fit_the_model_is_a_zoho_api_error() -> None:
    """Another server's 2xx may lack a field the model requires: the caller gets an UnexpectedResponse (a
    ZohoAPIError) carrying the payload, not a msgspec error, and a create is not sent twice."""
    from zcontacts.client import UnexpectedResponse, ZohoAPIError

    partial = {k: v for k, v in CONTACT.items() if k != "custom_fields"}
    script = Script(httpx.Response(201, json={"code": 0, "message": "created", "contact": partial}))
    with make_client(script, []) as zoho, pytest.raises(UnexpectedResponse) as raised:
        zoho.create_contact({"contact_name": "Kenny Digital"})
    assert isinstance(raised.value, ZohoAPIError)
    assert raised.value.status == 201
    assert raised.value.payload["contact"] == partial
    assert "custom_fields" in raised.value.message
    assert len(script.requests) == 1


def test_concurrent_calls_share_one_token_fetch_and_one_refresh() -> None:
    """Ten calls at once with OAuth credentials: one token fetch before them, and when the server refuses
    that token (401 code 57) one refresh for all ten, not one each (Zoho limits token fetches per client)."""
    issued = iter(["1000.a1", "1000.a2"])
    token_calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # let the other calls run meanwhile
        if request.url.path == "/oauth/v2/token":
            token_calls.append(request.url.params["grant_type"])
            return token(next(issued))
        if request.headers["Authorization"] == "Zoho-oauthtoken 1000.a1":
            return zoho_error(401, 57)
        return ok_contact()

    async def run() -> list[str]:
        async with AsyncClient(
            BASE, organization_id="1", client_id="1000.C", client_secret="s", refresh_token="1000.r",
            transport=httpx.MockTransport(handler),
        ) as client:  # fmt: skip
            got = await asyncio.gather(*(client.get_contact("1") for _ in range(10)))
            return [c.contact_id for c in got]

    assert asyncio.run(run()) == [CONTACT["contact_id"]] * 10
    assert token_calls == ["refresh_token", "refresh_token"]


def test_threads_sharing_a_client_share_one_refresh() -> None:
    """The same for the sync client used from several threads."""
    import threading
    import time

    issued = iter(["1000.a1", "1000.a2"])
    token_calls: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        time.sleep(0.01)
        if request.url.path == "/oauth/v2/token":
            with lock:
                token_calls.append(request.url.params["grant_type"])
                return token(next(issued))
        if request.headers["Authorization"] == "Zoho-oauthtoken 1000.a1":
            return zoho_error(401, 57)
        return ok_contact()

    results: list[str] = []
    with Client(BASE, organization_id="1", client_id="1000.C", client_secret="s", refresh_token="1000.r",
                transport=httpx.MockTransport(handler)) as client:  # fmt: skip
        threads = [
            threading.Thread(target=lambda: results.append(client.get_contact("1").contact_id))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [CONTACT["contact_id"]] * 8
    assert token_calls == ["refresh_token", "refresh_token"]
