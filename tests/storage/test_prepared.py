"""Prepared statements compile on first use, and every SQLite one compiles against the schema."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import column, select, table

from zcontacts.storage import contacts, ids, schema_snapshot
from zcontacts.storage.prepared import Prepared


def _prepared_in(*modules: Any) -> Iterator[Prepared]:
    for module in modules:
        for value in vars(module).values():
            candidates = value.values() if isinstance(value, dict) else [value]
            yield from (item for item in candidates if isinstance(item, Prepared))


def test_a_statement_is_compiled_once_on_first_use() -> None:
    statement = Prepared(select(column("a")).select_from(table("t")).where(column("a") == 1))
    assert statement._sqlite_sql is None
    sql = statement.sqlite_sql
    assert sql == "SELECT a \nFROM t \nWHERE a = :a_1"
    assert statement.sqlite_sql is sql


def test_every_sqlite_statement_compiles_against_the_schema() -> None:
    # The PostgreSQL id sequences' statements are PostgreSQL's alone; every other one runs on SQLite.
    found = [p for p in _prepared_in(contacts, ids) if p not in ids._POSTGRES_NEXT.values()]
    assert len(found) >= 14
    head = sqlite3.connect(":memory:")
    schema_snapshot.load(head)
    for statement in found:
        # SQLite prepares it against the real tables and columns (EXPLAIN runs nothing).
        head.execute("EXPLAIN " + statement.sqlite_sql, _nulls(statement.sqlite_sql))


def _nulls(sql: str) -> dict[str, None]:
    return dict.fromkeys(re.findall(r":(\w+)", sql))


def test_only_statements_are_taken() -> None:
    with pytest.raises(TypeError, match="not a SQL statement"):
        Prepared("SELECT 1")  # type: ignore[arg-type]
