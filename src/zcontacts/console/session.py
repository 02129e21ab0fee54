"""The console's session: the token and organization id a user signed in with, plus a per-session form token
(CSRF), kept in one HttpOnly, SameSite=Strict cookie. Nothing is stored on the server, so any worker or
replica serves any session. Signing out removes the cookie; a copy of it keeps working until the token is
revoked, which ends every session holding it."""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any

import msgspec
from litestar import Request, Response

from zcontacts.errors import NotAuthorized

COOKIE = "zcontacts_console"
# Before a session exists, the sign-in form's own form token lives in this cookie (against login CSRF: a
# cross-site page signing the browser in to someone else's organization).
SIGNIN_COOKIE = "zcontacts_console_signin"
COOKIE_PATH = "/console"


class Session(msgspec.Struct, frozen=True, array_like=True):
    """Who is signed in: organization id, token, and the form token every POST must carry."""

    organization_id: str
    token: str
    csrf: str


def new_session(organization_id: str, token: str) -> Session:
    """A session with a fresh form token."""
    return Session(organization_id, token, new_form_token())


def session_of(request: Request[Any, Any, Any]) -> Session | None:
    """The request's session, or None when it has no (readable) session cookie."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 2048:
        return None
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(raw.encode()), type=Session)
    except (ValueError, msgspec.DecodeError):
        return None


def check_form_token(session: Session, given: object) -> None:
    """Refuse a form whose token is not the session's (a cross-site request cannot read the cookie)."""
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise NotAuthorized(
            "The form has expired or did not come from this console: reload the page and try again."
        )


def new_form_token() -> str:
    """A fresh random form token."""
    return secrets.token_urlsafe(24)


def check_signin_token(request: Request[Any, Any, Any], given: object) -> None:
    """Refuse a sign-in form that was not served to this browser by the console."""
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if (
        not expected
        or not isinstance(given, str)
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise NotAuthorized(
            "The sign-in form has expired or did not come from this console: please try again."
        )


def store_signin_token(response: Response[Any], request: Request[Any, Any, Any], value: str | None) -> None:
    """Set (or, with None, clear) the sign-in form's token cookie."""
    if value is None:
        response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
        return
    response.set_cookie(
        SIGNIN_COOKIE,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def store(response: Response[Any], request: Request[Any, Any, Any], session: Session | None) -> None:
    """Set (or, with None, clear) the session cookie on `response`; Secure whenever the console is on https."""
    if session is None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return
    value = base64.urlsafe_b64encode(msgspec.json.encode(session)).decode()
    response.set_cookie(
        COOKIE,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _secure(request: Request[Any, Any, Any]) -> bool:
    """Whether cookies must only go over https: on https, or behind a TLS proxy (ZCONTACTS_SECURE_COOKIES)."""
    return request.url.scheme == "https" or bool(request.app.state.settings.secure_cookies)
