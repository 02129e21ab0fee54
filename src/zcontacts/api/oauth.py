"""POST /oauth/v2/token and /oauth/v2/token/revoke, answering like Zoho Accounts: parameters in the query
string or a form body; success as {access_token, refresh_token?, api_domain, token_type, expires_in};
refusals as {"error": "invalid_code"} and the like."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException

from zcontacts.api.bodies import read_form
from zcontacts.api.context import provide_database
from zcontacts.domain.oauth import OAuthError, grant_tokens
from zcontacts.domain.schemas import encode
from zcontacts.domain.tokens import token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import ZohoError
from zcontacts.storage.database import Database
from zcontacts.storage.oauth import OAuthRepo

JSON = "application/json;charset=UTF-8"


async def _parameters(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Query parameters, overridden by form fields when the body is a form. A form that cannot be read (no
    multipart boundary, bytes not in their charset) is refused as Zoho Accounts refuses any bad request."""
    values = dict(request.query_params.items())
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await read_form(request)
        except (ZohoError, ClientException):
            raise OAuthError("invalid_request") from None
        values.update({key: value for key, value in form.items() if isinstance(value, str)})
    return values


def _oauth_response(body: dict[str, Any], status: int = 200) -> Response[bytes]:
    # Token responses must never be cached (RFC 6749 5.1).
    return Response(
        content=encode(body),
        status_code=status,
        media_type=JSON,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


class OAuthController(Controller):
    """Zoho Accounts' token endpoints."""

    path = "/oauth/v2"
    tags = ["OAuth"]  # noqa: RUF012
    dependencies = {"database": Provide(provide_database)}  # noqa: RUF012

    @post("/token", status_code=200, operation_id="oauthToken")
    async def token(
        self, request: Request[Any, Any, Any], database: NamedDependency[Database]
    ) -> Response[bytes]:
        """Exchange a grant code (grant_type=authorization_code) or a refresh token (grant_type=refresh_token)
        for an access token."""
        settings = request.app.state.settings
        lifetime = int(settings.access_token_seconds)
        # Clients send their later calls there: a configured address, not one a Host header can choose.
        api_domain = (settings.public_url or str(request.base_url)).rstrip("/")
        try:
            params = await _parameters(request)
            at = now_ms()
            body = await database.write(
                lambda connection: grant_tokens(OAuthRepo(connection), params, at, lifetime)
            )
        except OAuthError as refusal:
            return _oauth_response({"error": refusal.error}, status=refusal.status)
        return _oauth_response(
            {**body, "api_domain": api_domain, "token_type": "Bearer", "expires_in": lifetime}
        )

    @post("/token/revoke", status_code=200, operation_id="oauthRevoke")
    async def revoke(
        self, request: Request[Any, Any, Any], database: NamedDependency[Database]
    ) -> Response[bytes]:
        """Revoke a refresh token (and the access tokens made from it) or an access token."""
        try:
            params = await _parameters(request)
        except OAuthError as refusal:
            return _oauth_response({"error": refusal.error}, status=refusal.status)
        token = params.get("token", "")
        if not token:
            return _oauth_response({"error": "invalid_request"}, status=400)
        at = now_ms()
        await database.write(lambda connection: OAuthRepo(connection).revoke(token_hash(token), at))
        # Like RFC 7009: the answer does not tell whether the token existed.
        return _oauth_response({"status": "success"})
