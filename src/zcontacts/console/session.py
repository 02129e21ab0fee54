"""The console's session: the token and organization id a user signed in with, plus a per-session form token
(CSRF), kept in one HttpOnly, SameSite=Strict cookie. Nothing is stored on the server, so any worker or
replica serves any session, and signing out (or revoking the token) ends it."""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any

import msgspec
from litestar import Request, Response

from zcontacts.errors import NotAuthorized

COOKIE = "zcontacts_console"
COOKIE_PATH = "/console"


class Session(msgspec.Struct, frozen=True, array_like=True):
    """Who is signed in: organization id, token, and the form token every POST must carry."""

    organization_id: str
    token: str
    csrf: str


def new_session(organization_id: str, token: str) -> Session:
    """A session with a fresh form token."""
    return Session(organization_id, token, secrets.token_urlsafe(24))


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
        secure=request.url.scheme == "https",
    )
