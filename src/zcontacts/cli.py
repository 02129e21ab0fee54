"""The `zcontacts` command: serve, orgs, tokens, import, export, reset, db. Operators script it, so data goes to stdout alone and
everything decorative to stderr."""

# No `from __future__ import annotations` here: typer reads the annotations of every command on every run,
# and string annotations it would have to evaluate (building each typer.Option again) cost 20–35 ms of each
# command's start, `serve` included.

import os
import shutil
import signal
import sys
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zcontacts import __version__
from zcontacts.config import Settings
from zcontacts.domain.organizations import (
    DEFAULT_CURRENCY,
    DEFAULT_TIME_ZONE,
    Organization,
    check_time_zone,
    currency_facts,
)
from zcontacts.domain.scopes import CONTACT_SCOPES, FULL_ACCESS, canonical_scope
from zcontacts.domain.tokens import new_token, token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage import migrate
from zcontacts.storage.database import Database
from zcontacts.storage.engine import first_line
from zcontacts.storage.organizations import OrganizationsRepo
from zcontacts.storage.tokens import TokensRepo

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Connection

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="zcontacts: a self-hosted Zoho Customers API."
)
orgs_app = typer.Typer(no_args_is_help=True, help="Manage organizations.")
tokens_app = typer.Typer(no_args_is_help=True, help="Manage access tokens.")
db_app = typer.Typer(no_args_is_help=True, help="Manage the database schema.")
clients_app = typer.Typer(no_args_is_help=True, help="Manage OAuth self clients (Zoho Accounts style).")
app.add_typer(orgs_app, name="orgs")
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")


@cache
def _console(stderr: bool) -> "Console":
    # Made on first use: importing rich is ~0.05 s that `serve`, whose banner is plain text, would otherwise
    # spend before it listens.
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def out() -> "Console":
    """Messages for people on stdout."""
    return _console(False)


def err() -> "Console":
    """Everything decorative, on stderr: one line per message, for log collectors."""
    return _console(True)


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Database URL [env: ZCONTACTS_DATABASE_URL; default: sqlite:///zcontacts.db]"
    ),
]


def _open(database_url: str | None, *, upgrade: bool = True) -> Database:
    """The database, migrated to the newest schema (left as it is when not `upgrade`); refuses one that a newer
    zcontacts migrated."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    settings = Settings.from_env(database_url=database_url)
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        database = Database.from_url(settings.database_url, wal_buffer=settings.sqlite_wal_buffer)
    except OSError as exc:  # the SQLite file's directory cannot be made
        raise _fail(f"cannot open the database {where}: {exc.strerror or exc}") from None
    try:
        if upgrade:
            migrate.upgrade(database.engine)
        else:
            migrate.check_known(database.engine)
    except migrate.UnknownRevision as exc:
        raise _fail(str(exc)) from None
    except DBAPIError as exc:  # a server that is down, refuses us, or a file that cannot be opened
        database.dispose()
        raise _fail(f"cannot open the database {where}: {first_line(exc.orig)}") from None
    return database


def _schema_lag(database: Database) -> str | None:
    """How far the database's schema is behind this code's head (None when it is at head)."""
    revision, head = migrate.current_revision(database.engine), migrate.head_revision()
    return None if revision == head else f"at revision {revision or 'none'}, this server needs {head}"


def _scopes(given: list[str] | None) -> list[str]:
    """Validated, canonically spelled scopes from repeated --scope options."""
    try:
        return [canonical_scope(s) for s in given or []]
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _emit(line: str) -> None:
    """One line of data on stdout, verbatim (no rich markup: data may hold brackets)."""
    sys.stdout.write(line + "\n")


def _fail(message: str) -> typer.Exit:
    err().print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


def create_organization(database: Database, name: str, currency_code: str, time_zone: str) -> Organization:
    """A new organization (validated currency and time zone)."""
    currency = currency_facts(currency_code)
    check_time_zone(time_zone)
    at = now_ms()
    return database.run(
        lambda c: OrganizationsRepo(c).create(name=name, currency=currency, time_zone=time_zone, at_ms=at),
        write=True,
    )


def create_token(
    database: Database, organization_id: str, scopes: list[str], expires_in: int | None = None
) -> str:
    """A new token for an organization; only its hash is stored."""
    token = new_token()
    at = now_ms()
    expires_at = at + expires_in * 1000 if expires_in is not None else None

    def work(connection: "Connection") -> None:
        if OrganizationsRepo(connection).get(organization_id) is None:
            raise ValueError(f"no organization {organization_id}")
        TokensRepo(connection).create(
            organization_id=organization_id,
            token_hash=token_hash(token),
            scopes=scopes,
            at_ms=at,
            expires_at_ms=expires_at,
        )

    database.run(work, write=True)
    return token


# ---- serve -----------------------------------------------------------------------------------------------


def event_loop_for(workers: int) -> str:
    """uvloop; in one process, the variant that accepts every waiting connection per loop turn (event_loop.py).
    Several workers share one listening socket, and one of them taking a whole burst would leave the others idle
    for as long as those connections live: there each takes one per turn, as libuv does."""
    if sys.platform == "win32":
        return "asyncio"
    return "zcontacts.event_loop:new_event_loop" if workers == 1 else "uvloop"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8000]")] = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes")] = 1,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error")] = None,
    fixtures: Annotated[
        Path | None,
        typer.Option(
            help="CSV or JSON Lines file loaded into the default organization first [env: ZCONTACTS_FIXTURES]"
        ),
    ] = None,
) -> None:
    """Run the API server; on an empty database, create an organization and a full-access token first. With
    ZCONTACTS_AUTO_MIGRATE=false it changes nothing in the database: it serves whatever schema it finds, and
    /readyz answers 503 until `zcontacts db upgrade` has brought it to this code's head."""
    settings = Settings.from_env(
        database_url=database_url,
        host=host,
        port=port,
        log_level=log_level,
        fixtures=str(fixtures) if fixtures else None,
    )
    database = _open(settings.database_url, upgrade=settings.auto_migrate)
    lag = None if settings.auto_migrate else _schema_lag(database)
    # Behind head, the organizations table may not be there yet (or not as this code reads it).
    organizations = [] if lag else database.run(lambda c: OrganizationsRepo(c).all(), write=False)
    base = f"http://{settings.host}:{settings.port}"
    _emit(f"zcontacts {__version__} — Zoho Expense Customers API")
    _emit(f"  database:     {database.engine.url.render_as_string(hide_password=True)}")
    _emit(f"  listening on: {base}/expense/v1/contacts")
    _emit(f"  API docs:     {base}/docs (Swagger UI), {base}/redoc")
    _emit(f"  web console:  {base}/console")
    _emit(f"  metrics:      {base}/metrics")
    _emit(f"  health:       {base}/healthz, {base}/readyz")
    _emit(f"  rate limit:   {_rate_limit_summary(settings)}")
    if lag:
        _emit(
            f"  schema:       {lag}; not migrating (ZCONTACTS_AUTO_MIGRATE=false): /readyz answers 503 until "
            "`zcontacts db upgrade` has run"
        )
    default_organization = None if lag else _default_organization(database, settings, organizations, base)
    if settings.fixtures:
        if default_organization is None:
            raise _fail(
                f"fixtures {settings.fixtures}: no organization to load them into "
                "(with ZCONTACTS_AUTO_MIGRATE=false, serve creates none and needs the schema at head)"
            )
        _load_fixtures(database, default_organization, Path(settings.fixtures))
    sys.stdout.flush()
    database.dispose()
    made_metrics_dir = None
    if workers > 1:
        settings, made_metrics_dir = _share_metrics(settings)
    os.environ.update(settings.to_env())
    # uvicorn finishes in-flight requests on SIGTERM, then re-raises the signal to itself; a graceful stop is
    # a success, so that re-raised signal ends the process with status 0 rather than "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        _run_uvicorn(settings, workers)
    finally:
        if made_metrics_dir is not None:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)


def _default_organization(
    database: Database, settings: Settings, organizations: list[Organization], base: str
) -> str | None:
    """The organization fixtures go into, said on stdout: the first one, or a new one with a full-access token
    (none when ZCONTACTS_AUTO_MIGRATE=false: such a replica creates nothing)."""
    if organizations:
        ids = ", ".join(o.organization_id for o in organizations[:5])
        _emit(f"  organizations: {ids}{' …' if len(organizations) > 5 else ''}")
        _emit(f"Get a token: zcontacts tokens create --org {organizations[0].organization_id}")
        return organizations[0].organization_id
    if not settings.auto_migrate:
        _emit(
            "No organization yet, and none created (ZCONTACTS_AUTO_MIGRATE=false): "
            "zcontacts orgs create --name …"
        )
        return None
    org = create_organization(database, "My Organization", DEFAULT_CURRENCY, DEFAULT_TIME_ZONE)
    token = create_token(database, org.organization_id, [FULL_ACCESS])
    _emit("Created a default organization and a full-access token:")
    _emit(f"  organization id: {org.organization_id}")
    _emit(f"  token:           {token}")
    _emit("Try it:")
    _emit(
        f"  curl -H 'Authorization: Zoho-oauthtoken {token}' "
        f"-H 'X-com-zoho-expense-organizationid: {org.organization_id}' {base}/expense/v1/contacts"
    )
    return org.organization_id


def _share_metrics(settings: Settings) -> tuple[Settings, str | None]:
    """Where the workers of this server share their request counts (api/metrics.py): the configured
    directory, emptied of an earlier server's counts, or a fresh one (returned too, to be removed after)."""
    from zcontacts.api.metrics import SNAPSHOT_SUFFIX

    if settings.metrics_dir:
        directory = Path(settings.metrics_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob(f"*{SNAPSHOT_SUFFIX}"):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            raise _fail(f"cannot use ZCONTACTS_METRICS_DIR={directory}: {exc.strerror or exc}") from None
        return settings, None
    made = tempfile.mkdtemp(prefix="zcontacts-metrics-")
    return replace(settings, metrics_dir=made), made


# uvicorn's httptools protocol with a bounded request head (zcontacts/http_protocol.py); the benchmark's
# limits run on it too.
SERVE_HTTP = "zcontacts.http_protocol:Protocol"


def _run_uvicorn(settings: Settings, workers: int) -> None:
    import uvicorn

    from zcontacts.lazy_imports import defer

    defer("yaml", "pdb")  # before the app's import of Litestar, which imports both and uses neither here

    uvicorn.run(
        "zcontacts.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        loop=event_loop_for(workers),
        http=SERVE_HTTP,
        ws="none",  # no WebSocket routes; skips loading a WebSocket implementation at start
        proxy_headers=False,
        server_header=False,
        access_log=False,  # zcontacts writes its own JSON access log (zcontacts.access), with request ids
    )


def _load_fixtures(database: Database, organization_id: str, path: Path) -> None:
    """Import the fixtures file into the organization (strict: a bad row stops the server from starting)."""
    from zcontacts.transfer import import_file

    try:
        report = import_file(database, organization_id, path, strict=True)
    except (OSError, ValueError) as exc:
        raise _fail(f"fixtures {path}: {exc}") from None
    if report.aborted:
        for error in report.errors:
            err().print(
                f"[red]error:[/red] fixtures {path}: row {error.row}, {error.field or 'row'}: {error.message}"
            )
        raise typer.Exit(code=2)
    out().print(
        f"Loaded fixtures {path} into organization {organization_id}: {report.created} created, "
        f"{report.updated} updated, {report.unchanged} unchanged"
    )


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _rate_limit_summary(settings: Settings) -> str:
    if settings.rate_limit_per_minute <= 0:
        return "off"
    where = "per process"
    if settings.redis_url:
        where = (
            "shared in Redis"
            if _redis_answers(settings.redis_url)
            else "Redis does not answer: per process until it does"
        )
    return f"{settings.rate_limit_per_minute} requests a minute per organization ({where})"


def _redis_answers(url: str) -> bool:
    """Whether Redis answers a PING within half a second (the banner says so rather than promise a shared limit)."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        with Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
            return bool(client.ping())
    except (RedisError, OSError, ValueError):
        return False


# ---- orgs ------------------------------------------------------------------------------------------------


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="Organization name")],
    currency_code: Annotated[str, typer.Option(help="ISO 4217 currency code")] = DEFAULT_CURRENCY,
    time_zone: Annotated[str, typer.Option(help="IANA time zone for created_time")] = DEFAULT_TIME_ZONE,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an organization; prints only its id."""
    if not name.strip() or len(name) > 200:
        raise _fail("--name must be 1 to 200 characters")
    database = _open(database_url)
    try:
        org = create_organization(database, name.strip(), currency_code, time_zone)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _emit(org.organization_id)


@orgs_app.command("list")
def orgs_list(database_url: DatabaseUrl = None) -> None:
    """List organizations."""
    database = _open(database_url)
    organizations = database.run(lambda c: OrganizationsRepo(c).all(), write=False)
    from rich.table import Table

    table = Table("organization_id", "name", "currency", "time zone")
    for org in organizations:
        table.add_row(org.organization_id, org.name, org.currency_code, org.time_zone)
    out().print(table)


# ---- tokens ----------------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    org: Annotated[str, typer.Option("--org", help="Organization id")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Scope (repeatable) [default: the four contact scopes]"),
    ] = None,
    expires_in: Annotated[
        int | None, typer.Option(min=1, help="Lifetime in seconds [default: no expiry]")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an access token; prints only the token."""
    scopes = _scopes(scope) or list(CONTACT_SCOPES)
    database = _open(database_url)
    try:
        token = create_token(database, org.strip(), scopes, expires_in)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _emit(token)


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token to revoke")], database_url: DatabaseUrl = None
) -> None:
    """Revoke a token (servers stop accepting it within a second)."""
    database = _open(database_url)
    at = now_ms()
    if not database.run(lambda c: TokensRepo(c).revoke(token_hash(token.strip()), at), write=True):
        raise _fail("no live token matches")
    err().print("revoked")


# ---- OAuth clients -------------------------------------------------------------------------------------


@clients_app.command("create")
def clients_create(
    org: Annotated[str, typer.Option("--org", help="Organization id")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Scope (repeatable) [default: the four contact scopes]"),
    ] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the client by")] = "Self Client",
    code_expires_in: Annotated[int, typer.Option(min=1, help="Seconds the grant code stays usable")] = 600,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a self client; prints JSON with client_id, client_secret and a one-time grant_code."""
    from zcontacts.admin import create_client
    from zcontacts.domain.schemas import encode

    scopes = _scopes(scope) or list(CONTACT_SCOPES)
    try:
        client = create_client(_open(database_url), org.strip(), scopes, name, code_expires_in)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _emit(encode(client).decode())


@clients_app.command("code")
def clients_code(
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id")],
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Narrower scopes (repeatable)")] = None,
    expires_in: Annotated[int, typer.Option(min=1, help="Seconds the code stays usable")] = 600,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a fresh one-time grant code for a client; prints only the code."""
    from zcontacts.admin import mint_code

    scopes = _scopes(scope) or None
    try:
        code = mint_code(_open(database_url), client_id.strip(), scopes, expires_in)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _emit(code)


# ---- history ---------------------------------------------------------------------------------------------


@app.command()
def history(
    contact_id: Annotated[str, typer.Argument(help="The contact's id (deleted contacts too)")],
    org: Annotated[str, typer.Option("--org", help="Organization id")],
    database_url: DatabaseUrl = None,
) -> None:
    """Print a contact's history as JSON Lines, newest first, even after the contact was deleted."""
    from zcontacts.domain.history import render_entry
    from zcontacts.domain.schemas import encode
    from zcontacts.storage.contacts import ContactsRepo

    database = _open(database_url)
    organization = database.run(lambda c: OrganizationsRepo(c).get(org.strip()), write=False)
    if organization is None:
        raise _fail(f"no organization {org}")
    rows = database.run(
        lambda c: ContactsRepo(c).history(
            organization.organization_id, contact_id.strip(), limit=100_000, offset=0
        ),
        write=False,
    )
    if not rows:
        raise _fail(f"no history for contact {contact_id} in organization {org}")
    for row in rows:
        _emit(encode(render_entry(row, organization.time_zone)).decode())


# ---- import, export, reset -------------------------------------------------------------------------------

Org = Annotated[str, typer.Option("--org", help="Organization id")]


def _open_for_command(context: typer.Context, database_url: str | None) -> Database:
    """The database, closed when the command ends however it ends (commands also run in-process)."""
    database = _open(database_url)
    context.call_on_close(database.dispose)
    return database


FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv or jsonl [default: from the file's suffix]")
]


@app.command("import")
def import_command(
    context: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file", exists=True, dir_okay=False)],
    org: Org,
    fmt: FormatOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count, write nothing")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first bad row and write nothing")
    ] = False,
    bulk: Annotated[
        bool,
        typer.Option(
            "--bulk",
            help="SQLite: one transaction that rebuilds the contacts indexes at the end; much faster for big "
            "files, but holds the write lock (a running server's writes wait) until it is done",
        ),
    ] = False,
    errors: Annotated[
        Path | None, typer.Option("--errors", help="Write every bad row (row,field,message) to this CSV")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import contacts; a row whose contact_name (ignoring case) exists updates that contact."""
    import csv

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from zcontacts.transfer import RowError, import_file

    database = _open_for_command(context, database_url)
    try:
        error_file = errors.open("w", newline="", encoding="utf-8") if errors else None
    except OSError as exc:
        raise _fail(f"cannot write --errors {errors}: {exc.strerror or exc}") from None
    shown = 0
    error_rows = csv.writer(error_file) if error_file else None
    if error_rows is not None:
        error_rows.writerow(["row", "field", "message"])
    progress = Progress(
        TextColumn("[bold]importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
    )

    def on_error(error: RowError) -> None:
        nonlocal shown
        if error_rows is not None:
            error_rows.writerow([error.row, error.field, error.message])
        if shown < 20:
            shown += 1
            field = f"field {error.field}" if error.field else "the row"
            progress.console.print(f"[red]row {error.row}[/red], {field}: {error.message}", markup=True)

    try:
        with progress:
            task = progress.add_task(file.name, total=file.stat().st_size)
            report = import_file(
                database,
                org.strip(),
                file,
                fmt=fmt,
                dry_run=dry_run,
                strict=strict,
                bulk=bulk,
                on_progress=lambda done: progress.update(task, completed=done),
                on_error=on_error,
            )
    except (OSError, ValueError) as exc:  # an unreadable file, a bad header, no such organization
        raise _fail(str(exc)) from None
    finally:
        if error_file is not None:
            error_file.close()
    if report.failed > shown:
        err().print(
            f"… and {report.failed - shown} more bad rows" + (f" (all in {errors})" if errors else "")
        )
    verb = "would be" if dry_run else "were"
    if report.aborted:
        err().print("[red]stopped at the first bad row (--strict): nothing was imported[/red]")
    else:
        err().print(
            f"{report.rows:,} rows: {report.created:,} {verb} created, {report.updated:,} {verb} updated, "
            f"{report.unchanged:,} unchanged, {report.failed:,} bad"
        )
    _emit(
        f"created={report.created} updated={report.updated} unchanged={report.unchanged} failed={report.failed}"
    )
    if report.failed:
        raise typer.Exit(code=1)


@app.command("export")
def export_command(
    context: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file to write", dir_okay=False)],
    org: Org,
    fmt: FormatOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every contact of an organization (CSV: flat columns; JSON Lines: everything)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from zcontacts.transfer import export_file
    from zcontacts.transfer.exporter import count_contacts

    database = _open_for_command(context, database_url)
    progress = Progress(
        TextColumn("[bold]exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err(), transient=True,
    )  # fmt: skip
    try:
        with progress:
            task = progress.add_task("export", total=count_contacts(database, org.strip()))
            count = export_file(
                database, org.strip(), file, fmt=fmt,
                on_progress=lambda done: progress.update(task, completed=done),
            )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    err().print(f"exported {count:,} contacts to {file}")
    _emit(str(count))


@app.command()
def reset(
    context: typer.Context,
    org: Org,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete every contact of an organization, and their history (the organization and tokens stay)."""
    from zcontacts.storage.bulk import BulkRepo

    database = _open_for_command(context, database_url)
    organization = database.run(lambda c: OrganizationsRepo(c).get(org.strip()), write=False)
    if organization is None:
        raise _fail(f"no organization {org}")
    count = database.run(lambda c: BulkRepo(c).count(organization.organization_id), write=False)
    if not yes and not typer.confirm(
        f"Delete all {count:,} contacts of organization {organization.organization_id} ({organization.name})?",
        err=True,
    ):
        raise typer.Exit(code=1)
    deleted = database.run(lambda c: BulkRepo(c).delete_all(organization.organization_id), write=True)
    err().print(f"deleted {deleted:,} contacts of organization {organization.organization_id}")
    _emit(str(deleted))


# ---- db --------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration."""
    database = _open(database_url)
    _emit(migrate.current_revision(database.engine) or "")


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Print the database's schema revision (empty before the first migration)."""
    settings = Settings.from_env(database_url=database_url)
    database = Database.from_url(settings.database_url, wal_buffer=settings.sqlite_wal_buffer)
    revision = migrate.current_revision(database.engine)
    _emit(revision or "")
    if revision is not None and revision not in migrate.known_revisions():
        err().print(f"[yellow]note:[/yellow] revision {revision} is newer than this zcontacts knows")


@db_app.command("check")
def db_check(
    org: Annotated[str | None, typer.Option(help="Only this organization's contacts")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check that every stored contact is whole: its record, rendered JSON, columns and address, person and
    custom-field rows agree. Prints each problem; exits 1 when there is any."""
    from zcontacts.storage.consistency import check_contacts

    database = _open(database_url)
    try:
        problems = database.run(lambda connection: check_contacts(connection, org), write=False)
    finally:
        database.dispose()
    for problem in problems:
        _emit(str(problem))
    if problems:
        raise typer.Exit(1)
    err().print("every contact is consistent")


def main() -> None:
    """Entry point of the `zcontacts` command."""
    app()
