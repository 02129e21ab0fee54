"""Statements built and compiled once, run on the transaction's connection.

On SQLite a statement goes straight to the sqlite3 connection under the SQLAlchemy transaction (same
connection, so the same transaction): its SQL was compiled once at import, and the driver keeps it prepared.
That skips SQLAlchemy's per-execution work (cache key, parameter processing, result wrapping), which was
most of a write's CPU (docs/PERFORMANCE.md). On PostgreSQL the same construct runs through SQLAlchemy, whose
compiled cache serves it; there the network round trip dwarfs those microseconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import ClauseElement, Executable

_SQLITE = sqlite.dialect(paramstyle="named")

Parameters = Mapping[str, Any]


class Prepared:
    """One statement: the SQLAlchemy construct and its SQLite text (`:name` parameters), compiled on first use
    (compiling all 20 at import was ~4 ms of every cold start, PostgreSQL's included, which never uses them)."""

    __slots__ = ("_sqlite_sql", "construct")

    def __init__(self, construct: Executable) -> None:
        if not isinstance(construct, ClauseElement):
            raise TypeError(f"not a SQL statement: {construct!r}")
        self.construct = construct
        self._sqlite_sql: str | None = None

    @property
    def sqlite_sql(self) -> str:
        sql = self._sqlite_sql
        if sql is None:
            sql = self._sqlite_sql = str(self.construct.compile(dialect=_SQLITE))
        return sql


class Runner:
    """Runs Prepared statements in one connection's transaction."""

    __slots__ = ("connection", "driver")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        driver = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        self.driver: sqlite3.Connection | None = driver if isinstance(driver, sqlite3.Connection) else None

    def rows(self, statement: Prepared, parameters: Parameters) -> list[Any]:
        """The rows a statement returns."""
        if self.driver is not None:
            return self.driver.execute(statement.sqlite_sql, parameters).fetchall()
        return list(self.connection.execute(statement.construct, dict(parameters)))

    def execute(self, statement: Prepared, parameters: Parameters) -> int:
        """Run a statement; returns the number of rows it changed."""
        if self.driver is not None:
            return self.driver.execute(statement.sqlite_sql, parameters).rowcount
        return self.connection.execute(statement.construct, dict(parameters)).rowcount

    def execute_many(self, statement: Prepared, parameters: Sequence[Parameters]) -> None:
        """Run a statement once per parameter set (one executemany)."""
        if not parameters:
            return
        if self.driver is not None:
            self.driver.executemany(statement.sqlite_sql, parameters)
        else:
            self.connection.execute(statement.construct, [dict(p) for p in parameters])
