"""The limit: a bare ASGI app doing the same SQLite statements as zcontacts on the same database, with no
framework, no validation and no authorization. Reads serve the same stored `doc`/`summary_doc` bytes; writes
run the same inserts, updates and deletes (with a much cruder document). Only the benchmark's workloads are
understood; anything else is a 404. Served by the same HTTP server as zcontacts, so the ratio between the two
is the price of everything zcontacts does on top.

Run: BENCH_DATABASE=path uvicorn bench.limit_app:create_app --factory --loop uvloop --http httptools"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from zcontacts.config import Settings
from zcontacts.heap import freeze_heap
from zcontacts.storage import wal_buffer

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PREFIX = "/expense/v1/contacts"
_JSON = [(b"content-type", b"application/json;charset=UTF-8")]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_LIST = (
    "SELECT contacts.summary_doc FROM contacts WHERE contacts.organization_id = ?{where} "
    "ORDER BY contacts.contact_name_key ASC, contacts.contact_id ASC LIMIT ? OFFSET ?"
)
# As zcontacts: rows holding trigrams that cover the term (at 0, 3, 6, … and the last) in the search key's
# column, and rows queued for the trigram index, confirmed on the key.
_SEARCH = (
    " AND contacts.contact_id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?"
    " UNION ALL SELECT contact_id FROM contacts_fts_pending WHERE command IS NULL)"
    " AND instr(contacts.search_key, ?) > 0"
)
# As zcontacts: the trigram queue moved into the index inside every 64th write transaction, its cancelled
# entries counted (migration 0008), then at most 32 pages of merging (migration 0009).
_APPLY_EVERY = 64
_KEYS = "contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key"
_APPLY = (
    f"INSERT INTO contacts_fts (contacts_fts, rowid, {_KEYS}) "
    f"SELECT command, contact_id, {_KEYS} FROM contacts_fts_pending ORDER BY seq"
)
_COUNT_CHURN = (
    "UPDATE contacts_fts_upkeep SET cancelled_entries = cancelled_entries + "
    "(SELECT count(*) FROM contacts_fts_pending WHERE command IS NOT NULL)"
)
_MERGE = "INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('merge', 32)"
_COMPANY = " AND contacts.company_name_key = ?"
_GET = "SELECT contacts.doc FROM contacts WHERE contacts.contact_id = ? AND contacts.organization_id = ?"
_DELETE = "DELETE FROM contacts WHERE contacts.contact_id = ? AND contacts.organization_id = ?"
_TAKE_IDS = "UPDATE id_sequences SET next_value = next_value + ? WHERE name = 'ids' RETURNING next_value"
_CONTACT_COLUMNS = (
    "contact_id organization_id contact_name contact_name_key company_name company_name_key first_name_key "
    "last_name_key email_key phone_key search_key status website twitter facebook notes primary_contact_id "
    "created_at_ms updated_at_ms doc summary_doc"
).split()
_INSERT = (
    f"INSERT INTO contacts ({', '.join(_CONTACT_COLUMNS)}) VALUES ({', '.join('?' * len(_CONTACT_COLUMNS))})"
)
_UPDATE = (
    "UPDATE contacts SET "
    + ", ".join(f"{c} = ?" for c in _CONTACT_COLUMNS[2:] if c != "created_at_ms")
    + " WHERE contact_id = ? AND organization_id = ?"
)
# As zcontacts does: an update that leaves the indexed columns as they were rewrites the other columns only.
_INDEXED = "contact_name_key company_name_key email_key phone_key first_name_key last_name_key search_key status".split()
_BODY_COLUMNS = [c for c in _CONTACT_COLUMNS[2:] if c != "created_at_ms" and c not in _INDEXED]
_UPDATE_BODY = (
    "UPDATE contacts SET "
    + ", ".join(f"{c} = ?" for c in _BODY_COLUMNS)
    + " WHERE contact_id = ? AND organization_id = ? AND "
    + " AND ".join(f"{c} = ?" for c in _INDEXED)
)
_ADDRESS = (
    "INSERT INTO contact_addresses (address_id, contact_id, organization_id, kind, attention, address, city, "
    "state, zip, country, fax) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, '')"
)
_PERSON = (
    "INSERT INTO contact_persons (contact_person_id, contact_id, organization_id, position, salutation, "
    "first_name, last_name, email, phone, mobile, department, designation, skype, fax, can_invite, "
    "is_primary_contact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', '', 1, ?)"
)
_FIELD = (
    "INSERT INTO contact_custom_fields (contact_id, customfield_id, organization_id, position, value_json) "
    "VALUES (?, ?, ?, ?, ?)"
)


def connect(path: str) -> sqlite3.Connection:
    """A connection with zcontacts' pragmas, in autocommit mode (transactions are explicit)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # zcontacts' pragmas, with its hot reader's page cache (ZCONTACTS_SQLITE_READ_CACHE_MB) and WAL checkpoint size.
    pragmas = (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",
        "busy_timeout=5000",
        "cache_size=-32768",
        "wal_autocheckpoint=10000",
    )
    for pragma in pragmas:
        connection.execute(f"PRAGMA {pragma}")
    return connection


@contextmanager
def _writing(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, committed if the block returns, rolled back if it raises; with its sub-journals
    in memory, as zcontacts' group commit keeps them (storage/database.py)."""
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA temp_store=DEFAULT")


def _keys(doc: dict[str, Any]) -> list[str]:
    keys = [
        str(doc.get(k, "")).strip().casefold() for k in ("contact_name", "company_name", "email", "phone")
    ]
    return keys


def _row_values(org: int, doc: dict[str, Any], at_ms: int) -> dict[str, Any]:
    name_key, company_key, email_key, phone_key = _keys(doc)
    summary = {k: doc.get(k, "") for k in ("contact_id", "contact_name", "company_name", "status")}
    return {
        "contact_id": int(doc["contact_id"]),
        "organization_id": org,
        "contact_name": doc.get("contact_name", ""),
        "contact_name_key": name_key,
        "company_name": doc.get("company_name", ""),
        "company_name_key": company_key,
        "first_name_key": str(doc.get("first_name", "")).casefold(),
        "last_name_key": str(doc.get("last_name", "")).casefold(),
        "email_key": email_key,
        "phone_key": phone_key,
        "search_key": "\x1f".join((name_key, company_key, email_key, phone_key)),
        "status": "active",
        "website": doc.get("website", ""),
        "twitter": "",
        "facebook": "",
        "notes": doc.get("notes", ""),
        "primary_contact_id": None,
        "created_at_ms": at_ms,
        "updated_at_ms": at_ms,
        "doc": _encode(doc),
        "summary_doc": _encode(summary),
    }


def _write_children(db: sqlite3.Connection, org: int, doc: dict[str, Any]) -> None:
    contact_id = int(doc["contact_id"])
    for kind in ("billing", "shipping"):
        address = doc[f"{kind}_address"]
        db.execute(
            _ADDRESS,
            (int(address["address_id"]), contact_id, org, kind, address.get("address", ""),
             address.get("city", ""), address.get("state", ""), address.get("zip", ""),
             address.get("country", "")),
        )  # fmt: skip
    for position, person in enumerate(doc["contact_persons"]):
        db.execute(
            _PERSON,
            (int(person["contact_person_id"]), contact_id, org, position, person.get("salutation", ""),
             person.get("first_name", ""), person.get("last_name", ""), person.get("email", ""),
             person.get("phone", ""), position == 0),
        )  # fmt: skip
    for position, field in enumerate(doc.get("custom_fields") or []):
        db.execute(
            _FIELD,
            (contact_id, str(field["customfield_id"]), org, position, _encode(field["value"]).decode()),
        )


class LimitApp:
    """The bare ASGI application."""

    def __init__(self, path: str) -> None:
        # zcontacts' process settings too, as its server applies them: the WAL writes (storage/wal_buffer.py,
        # ZCONTACTS_SQLITE_WAL_BUFFER) and, below, the start-up heap (ZCONTACTS_GC_FREEZE).
        settings = Settings.from_env()
        wal_buffer.configure(settings.sqlite_wal_buffer)
        self.db = connect(path)
        self.path = path
        self.writes = 0
        self.checkpointing = False
        # Kept open for good, as zcontacts keeps its own (closing it would drop SQLite's locks on the file).
        self.file = os.open(path, os.O_RDONLY)
        if settings.gc_freeze:
            freeze_heap()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (`_writing`); every 64th also moves the trigram queue into the index."""
        with _writing(self.db) as db:
            yield db
            if self.writes % _APPLY_EVERY == _APPLY_EVERY - 1:
                db.execute(_COUNT_CHURN)
                db.execute(_APPLY)
                db.execute("DELETE FROM contacts_fts_pending")
                db.execute(_MERGE)

    def after_write(self) -> None:
        """Passive WAL checkpoints in a worker thread every 64 writes, each followed by an fdatasync of the
        database file, as zcontacts does (storage/database.py, sync_database_file)."""
        self.writes += 1
        if self.writes % 64 or self.checkpointing:
            return
        self.checkpointing = True

        def checkpoint() -> None:
            try:
                with sqlite3.connect(self.path) as connection:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                os.fdatasync(self.file)
            finally:
                self.checkpointing = False

        asyncio.get_running_loop().run_in_executor(None, checkpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        method: str = scope["method"]
        org = 0
        for name, value in scope["headers"]:
            if name == b"x-com-zoho-expense-organizationid":
                org = int(value)
        status, body = 404, b'{"code":5,"message":"Invalid URL Passed"}'
        if path == PREFIX or path == PREFIX + "/":
            if method == "GET":
                status, body = 200, self.list(org, scope["query_string"].decode())
            elif method == "POST":
                status, body = 201, self.create(org, await _body(receive))
                self.after_write()
        elif path.startswith(PREFIX + "/"):
            contact_id = int(path[len(PREFIX) + 1 :])
            if method == "GET":
                status, body = self.get(org, contact_id)
            elif method == "PUT":
                status, body = self.update(org, contact_id, await _body(receive))
                self.after_write()
            elif method == "DELETE":
                status, body = self.delete(org, contact_id)
                self.after_write()
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    def get(self, org: int, contact_id: int) -> tuple[int, bytes]:
        """The stored document, spliced into the envelope."""
        row = self.db.execute(_GET, (contact_id, org)).fetchone()
        if row is None:
            return 404, b'{"code":1002,"message":"Customer does not exist."}'
        return 200, b'{"code":0,"message":"success","contact":' + row[0] + b"}"

    def list(self, org: int, query: str) -> bytes:
        """One page of stored list rows (the benchmark's parameters only: page, company_name, search_text)."""
        params = dict(parse_qsl(query))
        page = int(params.get("page", 1))
        per_page = int(params.get("per_page", 200))
        where, args = "", [org]
        if "company_name" in params:
            where += _COMPANY
            args.append(params["company_name"].strip().casefold())
        if "search_text" in params:
            where += _SEARCH
            term = params["search_text"].strip().casefold()  # the benchmark's: 3+ characters, no quotes
            starts = sorted({*range(0, len(term) - 2, 3), len(term) - 3})
            args += ["{search_key} : (" + " AND ".join(f'"{term[i : i + 3]}"' for i in starts) + ")", term]
        args += [per_page + 1, (page - 1) * per_page]
        rows = [row[0] for row in self.db.execute(_LIST.format(where=where), args)]
        more = len(rows) > per_page
        context = _encode(
            {"page": page, "per_page": per_page, "has_more_page": more, "applied_filter": "Status.All",
             "sort_column": "contact_name", "sort_order": "A", "search_text": params.get("search_text", "")}
        )  # fmt: skip
        return b'{"code":0,"message":"success","customers":[' + b",".join(rows[:per_page]) + b'],"page_context":' + context + b"}"  # fmt: skip

    def create(self, org: int, raw: bytes) -> bytes:
        """Insert the rows of a new contact: ids, contact row, two addresses, persons, custom fields."""
        body = _decode(raw)
        persons = body.get("contact_persons") or []
        at_ms = int(time.time() * 1000)
        with self.writing() as db:
            count = 3 + len(persons)
            (after,) = db.execute(_TAKE_IDS, (count,)).fetchone()
            ids = [str(i) for i in range(after - count, after)]
            doc = {
                **body,
                "contact_id": ids[0],
                "billing_address": {**(body.get("billing_address") or {}), "address_id": ids[1]},
                "shipping_address": {**(body.get("shipping_address") or {}), "address_id": ids[2]},
                "contact_persons": [
                    {**p, "contact_person_id": i} for p, i in zip(persons, ids[3:], strict=True)
                ],
            }
            values = _row_values(org, doc, at_ms)
            db.execute(_INSERT, [values[c] for c in _CONTACT_COLUMNS])
            _write_children(db, org, doc)
        return b'{"code":0,"message":"The customer has been created.","contact":' + values["doc"] + b"}"

    def update(self, org: int, contact_id: int, raw: bytes) -> tuple[int, bytes]:
        """Read the stored document, merge the body's top-level fields, rewrite the row."""
        body = _decode(raw)
        with self.writing() as db:
            row = db.execute(_GET, (contact_id, org)).fetchone()
            if row is None:
                return 404, b'{"code":1002,"message":"Customer does not exist."}'
            doc = {**_decode(row[0]), **{k: v for k, v in body.items() if not isinstance(v, dict | list)}}
            values = _row_values(org, doc, int(time.time() * 1000))
            body_values = [
                *(values[c] for c in _BODY_COLUMNS),
                contact_id,
                org,
                *(values[c] for c in _INDEXED),
            ]
            if not db.execute(_UPDATE_BODY, body_values).rowcount:
                columns = [c for c in _CONTACT_COLUMNS[2:] if c != "created_at_ms"]
                db.execute(_UPDATE, [*(values[c] for c in columns), contact_id, org])
            # Child rows stay: this merge never changes them, and zcontacts too rewrites them only when an
            # address, person or custom field changed.
        return 200, b'{"code":0,"message":"Customer information has been saved.","contact":' + values[
            "doc"
        ] + b"}"

    def delete(self, org: int, contact_id: int) -> tuple[int, bytes]:
        """Delete the row; children go by ON DELETE CASCADE, as in zcontacts."""
        with self.writing() as db:
            deleted = db.execute(_DELETE, (contact_id, org)).rowcount
        if not deleted:
            return 404, b'{"code":1002,"message":"Customer does not exist."}'
        return 200, b'{"code":0,"message":"The customer has been deleted."}'


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def create_app() -> LimitApp:
    """Factory for `uvicorn --factory` / granian: the database path comes from BENCH_DATABASE."""
    return LimitApp(os.environ["BENCH_DATABASE"])
