"""Prepared statements compile on first use, and every one of them compiles for SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import column, select, table

from zcontacts.storage import contacts, ids
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


def test_every_module_statement_compiles_to_sqlite() -> None:
    found = list(_prepared_in(contacts, ids))
    assert len(found) >= 14
    probe = sqlite3.connect(":memory:")
    for statement in found:
        sql = statement.sqlite_sql
        assert sql.strip(), statement.construct
        # SQLite parses it (a missing table is the only complaint allowed: this database has none).
        with pytest.raises(sqlite3.OperationalError, match=r"no such (table|function)"):
            probe.execute("EXPLAIN " + sql, {})


def test_only_statements_are_taken() -> None:
    with pytest.raises(TypeError, match="not a SQL statement"):
        Prepared("SELECT 1")  # type: ignore[arg-type]
