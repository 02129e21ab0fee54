"""Settings, read once from the environment (prefix ZCONTACTS_) and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///zcontacts.db"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a zcontacts server."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    pool_size: int = 10
    max_overflow: int = 10
    # Seconds a request waits for a free pooled connection (PostgreSQL) before it gets a 503 with Retry-After.
    pool_timeout: float = 10.0
    # PostgreSQL: how long a filtered list page may walk its sort's index before it is read matches first
    # (storage/postgres_pages.py); 0 lets every walk run to its end.
    postgres_walk_deadline_ms: int = 300
    max_body_bytes: int = 1024 * 1024
    # How long a token lookup is reused: revocation takes effect within this many seconds.
    token_cache_seconds: float = 1.0
    log_level: str = "info"
    # Lifetime of access tokens issued by /oauth/v2/token (Zoho's is an hour).
    access_token_seconds: int = 3600
    auto_migrate: bool = True
    # Requests per organization in any 60 seconds (Zoho's limit is 100); 0 turns the limit off.
    rate_limit_per_minute: int = 100
    # With a Redis URL the budget is shared by every replica; without one each process counts on its own.
    redis_url: str = ""
    # Prefix of the rate limit's Redis keys, so deployments sharing one Redis keep separate budgets.
    redis_prefix: str = "zcontacts"
    # A CSV or JSON Lines file `serve` imports into the default organization on start (re-imports update).
    fixtures: str = ""
    # The hot reads (get by id, list) served before the framework in their common case (api/fast_path.py);
    # turned off only to compare.
    fast_path: bool = True
    # SQLite writes of one event-loop turn share one commit (storage/database.py); turned off only to compare.
    group_commit: bool = True
    # SQLite page cache of the connection serving the hot reads, per process (SQLite's default is 2 MiB, which
    # a 200-row page over a large file overflows, so every page re-read its rows from the OS).
    sqlite_read_cache_mb: int = 32
    # SQLite: list pages the hot reader keeps until the next write (MiB of stored rows, per process; 0: none). A
    # page asked for again while nothing was written is a dictionary lookup instead of its statement.
    sqlite_page_memo_mb: int = 16
    # SQLite: write each commit's WAL frames in one system call (per 124 KiB) instead of two per page
    # (storage/wal_buffer.py, a C extension built at install; without it this does nothing). Applies to the whole
    # process.
    sqlite_wal_buffer: bool = True
    # SQLite: merge the trigram index in the background once writes are quiet (storage/search_index.py).
    compact_search_index: bool = True
    # A served process (`zcontacts serve`, the uvicorn factory) moves what start-up left alive out of the garbage
    # collector's full collections (gc.freeze): under steady writes each one walked the whole heap, 18-38 ms
    # every second or two, holding up every request in flight. An app made in process (tests) is left alone.
    gc_freeze: bool = True
    # The address clients reach this server at (e.g. https://contacts.example.com), given to them as the token
    # endpoint's api_domain; without it, the address the request came to (its Host header).
    public_url: str = ""
    # The web console's cookies (which hold the token) carry Secure even when this server is reached over
    # plain http: set it behind a proxy that terminates TLS, which `serve` cannot tell from its requests.
    secure_cookies: bool = False
    # A directory where the worker processes of one server share their request counts for GET /metrics
    # (api/metrics.py). `serve --workers N` makes a fresh one; set it for workers started another way.
    metrics_dir: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ZCONTACTS_* variables, then `overrides` that are not None."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(f"ZCONTACTS_{field.name.upper()}")
            if raw is not None:
                values[field.name] = _parse(field.name, raw, field.type)
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def to_env(self) -> dict[str, str]:
        """The ZCONTACTS_* variables that reproduce these settings (for server worker processes)."""
        return {f"ZCONTACTS_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def _parse(name: str, raw: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ValueError(f"ZCONTACTS_{name.upper()}={raw!r} is not a valid {kind}") from None
    return raw
