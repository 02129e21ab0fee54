"""What the sync and async clients share: each operation described once as a `Call`, the retry policy, the
OAuth credentials, and the one function that judges a response (done, retry, refresh the token, or raise)."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import msgspec

from zcontacts.client.errors import NO_CODE, OAuthError, UnexpectedResponse, ZohoAPIError, error_for

T = TypeVar("T")
Body = msgspec.Struct | Mapping[str, Any]
Flavour = Literal["expense", "books"]

DEFAULT_BASE_URL = "https://www.zohoapis.com"
PREFIXES: dict[str, str] = {"expense": "/expense/v1", "books": "/books/v3"}
LIST_KEYS: dict[str, str] = {"expense": "customers", "books": "contacts"}
ORGANIZATION_HEADER = "X-com-zoho-expense-organizationid"
# Methods whose repetition cannot change the outcome: safe to retry after a 5xx or a dropped connection.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
# Zoho's code for a missing, expired or revoked token: the one 401 a fresh access token can cure.
TOKEN_EXPIRED = 57


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter; a server's Retry-After wins when given.

    429 is retried for every method (the server did nothing). 5xx and transport errors are retried only for
    idempotent methods, or a POST sent with an Idempotency-Key."""

    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    # A Retry-After longer than this is not waited out: the error is raised instead.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1`."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return rng.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass
class OAuthCredentials:
    """A Zoho self client's id, secret and refresh token: the client trades them for access tokens."""

    client_id: str
    client_secret: str
    refresh_token: str
    accounts_url: str = ""


@dataclass
class Call(Generic[T]):
    """One HTTP call and how to read its success: `decode` turns the JSON object into the method's result."""

    method: str
    path: str
    decode: Callable[[dict[str, Any]], T]
    params: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None
    idempotency_key: str | None = None
    # OAuth calls go to the accounts server, carry no token and answer {"error": …} on refusal.
    accounts: bool = False
    # A POST that does the same thing however often it is sent (marking active, minting a token).
    repeatable: bool = False

    def may_retry_failure(self) -> bool:
        """Whether a 5xx or a lost connection may be retried without risk of doing the work twice."""
        return self.method in IDEMPOTENT or bool(self.idempotency_key) or self.repeatable


@dataclass(frozen=True)
class Verdict(Generic[T]):
    """What to do with a response: `done` with a value, `retry` after `delay`, `refresh` the token, or raise."""

    action: Literal["done", "retry", "refresh", "raise"]
    value: T | None = None
    delay: float = 0.0
    error: ZohoAPIError | None = None


def accounts_url_for(base_url: str) -> str:
    """Where tokens come from: Zoho's accounts server for a zohoapis.* base URL, else the server itself."""
    if "://www.zohoapis." in base_url:
        return base_url.replace("://www.zohoapis.", "://accounts.zoho.", 1)
    return base_url


def encode_body(body: Body) -> bytes:
    """JSON of a Struct (unset fields left out) or a mapping."""
    return msgspec.json.encode(body)


def converter(kind: type[T], key: str) -> Callable[[dict[str, Any]], T]:
    """Reads `key` of the response object as `kind`."""

    def decode(payload: dict[str, Any]) -> T:
        return msgspec.convert(payload[key], kind, strict=False)

    return decode


def nothing(payload: dict[str, Any]) -> None:
    """For calls whose success carries only a message."""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def judge(
    call: Call[T],
    status: int,
    content: bytes,
    retry_after: str | None,
    *,
    attempt: int,
    policy: RetryPolicy,
    rng: random.Random,
    can_refresh: bool,
) -> Verdict[T]:
    """The verdict on one response."""
    payload = _json_object(content)
    if 200 <= status < 300:
        if payload is None:
            return Verdict("raise", error=error_for(status, NO_CODE, "the response is not a JSON object"))
        if call.accounts and "error" in payload:  # Zoho Accounts answers some refusals with 200
            return Verdict("raise", error=OAuthError(str(payload["error"]), status))
        try:
            return Verdict("done", value=call.decode(payload))
        except (msgspec.ValidationError, KeyError, TypeError) as exc:
            problem = f"the call succeeded, but its response does not fit the client's model: {exc}"
            return Verdict("raise", error=UnexpectedResponse(problem, status, payload))
    error = _error_of(call, status, payload, content, retry_after)
    if status == 401 and can_refresh and error.code == TOKEN_EXPIRED:
        return Verdict("refresh", error=error)
    retryable = status == 429 or (status in RETRIED_STATUSES and call.may_retry_failure())
    if retryable and attempt < policy.max_attempts:
        waited = retry_after_seconds(retry_after)
        if waited is None or waited <= policy.max_retry_after:
            return Verdict("retry", delay=policy.delay(attempt, waited, rng), error=error)
    return Verdict("raise", error=error)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _error_of(
    call: Call[Any], status: int, payload: dict[str, Any] | None, content: bytes, retry_after: str | None
) -> ZohoAPIError:
    if payload is not None and call.accounts and "error" in payload:
        return OAuthError(str(payload["error"]), status)
    if payload is not None and isinstance(payload.get("code"), int):
        message = str(payload.get("message", ""))
        return error_for(status, payload["code"], message, retry_after_seconds(retry_after))
    text = content[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    return error_for(status, NO_CODE, text, retry_after_seconds(retry_after))
