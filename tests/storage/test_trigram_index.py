"""The SQLite trigram index (FTS5, detail=none since migration 0004) finds exactly the rows a full scan finds,
for every key column and substrings of every length it serves, and stays in step with inserts, updates and
deletes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.storage.contacts import _FTS_IN, _contains_parameters
from zcontacts.storage.database import Database
from zcontacts.storage.search_index import APPLY_EVERY, apply_pending

pytestmark = pytest.mark.backends("sqlite")

KEYS = ("contact_name_key", "company_name_key", "email_key", "phone_key", "first_name_key", "last_name_key",
        "search_key")  # fmt: skip


def _glob(value: str) -> str:
    return "*" + value.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]") + "*"


def _random_parts(connection: Connection, rng: random.Random, tries: int) -> Iterator[tuple[str, str]]:
    """(key column, value): random substrings of 3+ characters of stored keys, a few reversed (mostly absent)."""
    rows = connection.exec_driver_sql(f"SELECT {', '.join(KEYS)} FROM contacts").all()
    for _ in range(tries):
        column = rng.randrange(len(KEYS))
        value = rng.choice(rows)[column]
        start = rng.randrange(max(1, len(value) - 2))
        part = value[start : start + rng.randint(3, 12)]
        if len(part) < 3:
            continue
        yield KEYS[column], part[::-1] if rng.random() < 0.2 else part


def _glob_on_index(key: str, part: str) -> tuple[str, tuple[Any, ...]]:
    """A GLOB on the FTS5 table's column: what the index itself holds for the key."""
    return f"SELECT rowid FROM contacts_fts WHERE {key} GLOB ?", (_glob(part),)


def _served(key: str, part: str) -> tuple[str, tuple[Any, ...]]:
    """The served form (storage/contacts.py): rows matching a few covering trigrams, confirmed by instr."""
    return "SELECT contact_id FROM contacts WHERE " + _FTS_IN.format(key=key), (
        *_contains_parameters(part, key),
    )


def _compare(
    connection: Connection, rng: random.Random, tries: int, indexed: Callable[[str, str], tuple[str, Any]]
) -> int:
    """The rows `indexed` finds for random substrings are exactly the rows whose key holds the substring."""
    compared = 0
    for key, part in _random_parts(connection, rng, tries):
        found = connection.exec_driver_sql(*indexed(key, part)).all()
        scanned = connection.exec_driver_sql(
            f"SELECT contact_id FROM contacts WHERE instr({key}, ?) > 0", (part,)
        ).all()
        assert sorted(found) == sorted(scanned), (key, part)
        compared += 1
    return compared


def _queued(database: Database) -> int:
    return int(
        database.run(
            lambda c: c.exec_driver_sql("SELECT count(*) FROM contacts_fts_pending").scalar(), write=False
        )
    )


def test_the_index_keeps_columns_not_places(database: Database) -> None:
    """Migration 0011: each trigram's columns (a filter asks its key's alone), not its offsets (never read)."""
    sql = database.run(
        lambda c: c.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'contacts_fts'").scalar(),
        write=False,
    )
    assert "detail=column" in sql
    assert "trigram" in sql


def test_index_answers_as_a_scan_through_writes(client: object, database: Database, tenant: Tenant) -> None:
    rng = random.Random(4)
    words = [
        "Acme",
        "Zylo",
        "Straße",
        "O'Neil",
        "Ünïcode",
        "Tea [x]*?",
        'Say "Hi"',
        "Northwind",
        "Café",
        "日本語テキスト",
    ]
    ids = []
    for n in range(60):
        name = f"{rng.choice(words)} {rng.choice(words)} {n}"
        contact = make_contact(
            client,
            tenant,
            contact_name=name,
            company_name=f"{rng.choice(words)} Ltd",
            email=f"{''.join(c for c in rng.choice(words).lower() if c.isascii() and c.isalnum()) or 'x'}{n}@example.com",
            phone=f"+91 {rng.randrange(10**9):09d}",
            first_name=rng.choice(words),
            last_name=rng.choice(words),
        )
        ids.append(contact["contact_id"])
    for contact_id in ids[:20]:  # updates re-index the changed keys
        body = {
            "contact_name": f"Renamed {contact_id} {rng.choice(words)}",
            "company_name": rng.choice(words),
        }
        assert client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers).status_code == 200  # type: ignore[attr-defined]
    for contact_id in ids[20:35]:  # deletes leave the index
        assert client.delete(f"{CONTACTS}/{contact_id}", headers=tenant.headers).status_code == 200  # type: ignore[attr-defined]
    for contact_id in ids[35:45]:  # updates that leave every key as it was rewrite the row alone
        body = {"notes": f"note {contact_id}", "billing_address": {"zip": "411001"}}
        assert client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers).status_code == 200  # type: ignore[attr-defined]
    # Part of the writes is still queued for the index (the server moves the queue every APPLY_EVERY writes):
    # the served form finds queued rows and ignores what the index holds for changed and deleted ones.
    assert 0 < _queued(database) < 2 * (APPLY_EVERY + 1)
    compared = database.run(lambda c: _compare(c, rng, 600, _served), write=False)
    assert compared > 450
    # Once the queue is applied, the index itself holds exactly the stored keys, and the served form agrees.
    database.run(lambda c: apply_pending(c.connection.driver_connection), write=True)
    assert _queued(database) == 0
    compared = database.run(lambda c: _compare(c, rng, 400, _glob_on_index), write=False)
    assert compared > 300
    compared = database.run(lambda c: _compare(c, rng, 600, _served), write=False)
    assert compared > 450
    left = database.run(
        lambda c: c.exec_driver_sql("SELECT count(*) FROM contacts_fts").scalar(), write=False
    )
    assert left == 45


def test_an_update_that_keeps_the_keys_still_saves_everything(client: Any, tenant: Tenant) -> None:
    """A change of case keeps the name's key: the row is rewritten without its indexed columns, and the
    new spelling is what GET, the list and a search answer."""
    contact = make_contact(client, tenant, contact_name="acme traders", company_name="acme", notes="old")
    url = f"{CONTACTS}/{contact['contact_id']}"
    before = client.get(url, headers=tenant.headers).headers["ETag"]
    body = {"contact_name": "ACME Traders", "company_name": "ACME", "notes": "new"}
    updated = client.put(url, json=body, headers=tenant.headers).json()["contact"]
    assert (updated["contact_name"], updated["company_name"], updated["notes"]) == (
        "ACME Traders",
        "ACME",
        "new",
    )
    got = client.get(url, headers=tenant.headers).json()["contact"]
    assert (got["contact_name"], got["company_name"], got["notes"]) == ("ACME Traders", "ACME", "new")
    found = client.get(CONTACTS, params={"search_text": "acme"}, headers=tenant.headers).json()["customers"]
    assert [(c["contact_name"], c["company_name"]) for c in found] == [("ACME Traders", "ACME")]
    assert client.get(url, headers=tenant.headers).headers["ETag"] != before  # the version moved on
