"""create_app(settings): lifespan, routers, exception handlers — nothing else."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin
from litestar.routes import HTTPRoute

from zcontacts import __version__, redact
from zcontacts.api.auth import GrantCache
from zcontacts.api.contact_activity import ContactActivityController
from zcontacts.api.contact_addresses import ContactAddressesController
from zcontacts.api.contact_persons import ContactPersonsController
from zcontacts.api.contacts import ContactsController
from zcontacts.api.errors import EXCEPTION_HANDLERS, framework_error
from zcontacts.api.fast_path import FastPath
from zcontacts.api.health import HEALTH_ROUTES
from zcontacts.api.metrics import Metrics, metrics
from zcontacts.api.oauth import OAuthController
from zcontacts.api.observe import RequestObserver
from zcontacts.api.openapi import defer_openapi, docs_pages, redoc
from zcontacts.api.ratelimit import RateLimiter
from zcontacts.config import Settings
from zcontacts.console.routes import ConsoleController, is_console_path, not_found_page
from zcontacts.heap import freeze_heap
from zcontacts.logs import configure_logging
from zcontacts.storage import migrate
from zcontacts.storage.database import Database


class _Litestar(Litestar):
    """Litestar without its automatic pydantic plugins. They are added whenever pydantic is importable (typer
    installs it) and importing them is a third of a second of every cold start; zcontacts models are msgspec
    Structs, which Litestar serves natively."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        plugins.append(MsgspecDIPlugin())
        return plugins


def create_app(settings: Settings | None = None, *, served: bool = False) -> Litestar:
    """The zcontacts ASGI application; `served` when it is the whole process's server (create_app_from_env),
    so that it may tune the process itself (settings.gc_freeze)."""
    settings = settings or Settings.from_env()
    database = Database.from_url(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        walk_deadline_ms=settings.postgres_walk_deadline_ms,
        group_commit=settings.group_commit,
        read_cache_mb=settings.sqlite_read_cache_mb,
        page_memo_mb=settings.sqlite_page_memo_mb,
        compact_search_index=settings.compact_search_index,
        wal_buffer=settings.sqlite_wal_buffer,
    )
    rate_limiter = RateLimiter.from_settings(settings)

    def on_startup(app: Litestar) -> None:
        # Refuses (UnknownRevision) a database migrated by a newer zcontacts, even without auto_migrate.
        migrate.check_known(database.engine)
        if settings.auto_migrate:
            migrate.upgrade(database.engine)
        database.start_background()
        request_metrics.start_publishing()
        if served and settings.gc_freeze:
            freeze_heap()

    async def on_shutdown() -> None:
        request_metrics.stop_publishing()
        database.dispose()
        if rate_limiter is not None:
            await rate_limiter.close()

    logging.getLogger("zcontacts").setLevel(settings.log_level.upper())
    redact.install()  # no client secret, grant code or token in any log line
    render_plugins, docs_assets = docs_pages()
    request_metrics = Metrics(settings.metrics_dir or None)
    grant_cache = GrantCache(database, settings.token_cache_seconds)
    app = _Litestar(
        route_handlers=[
            # Under /expense/v1; Books clients get the same resource with Books' messages (api/context.py
            # routes /books/v3 as its /expense/v1 twin). The OpenAPI document describes Expense's.
            ContactsController,
            ContactActivityController,
            ContactPersonsController,
            ContactAddressesController,
            OAuthController,
            *HEALTH_ROUTES,
            metrics,
            redoc,
            *docs_assets,
            ConsoleController,
        ],
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: _not_found},
        request_max_body_size=settings.max_body_bytes,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State(
            {
                "settings": settings,
                "database": database,
                "grants": grant_cache,
                "rate_limiter": rate_limiter,
                "schema_head": migrate.head_revision(),
                "schema_known": frozenset(migrate.known_revisions()),
                "metrics": request_metrics,
            }
        ),
        openapi_config=OpenAPIConfig(
            title="zcontacts",
            version=__version__,
            description="A self-hosted, wire-compatible Zoho Expense Customers API.",
            path="/docs",
            render_plugins=render_plugins,
        ),
        debug=False,
    )
    _allow_every_method(app)
    # Outermost: request ids, the access log and metrics see every request, routed or not.
    fast = (
        FastPath(database, grant_cache, rate_limiter, settings.max_body_bytes) if settings.fast_path else None
    )
    app.asgi_handler = RequestObserver(app.asgi_handler, request_metrics, fast)
    defer_openapi(app)
    return app


def _not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """No route: the console's own page under /console (a browser asked), else the API's Zoho envelope."""
    if is_console_path(request.url.path):
        return not_found_page(request)
    return framework_error(request, exc)


def create_app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` and server workers: settings come from ZCONTACTS_* variables; logs are
    JSON lines on stderr at the configured level."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings, served=True)


def _allow_every_method(app: Litestar) -> None:
    """Litestar makes a path's OPTIONS handler with its first route and keeps it when handlers for other
    methods join the path (a new route object), so `Allow` named only the methods of the first: POST alone
    for the customer list. Each such handler is pointed at the route it now answers for."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = handler.fn
            if handler.http_methods != {"OPTIONS"} or getattr(fn, "__name__", "") != "options_handler":
                continue
            for cell in getattr(fn, "__closure__", None) or ():
                if isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents = route
