"""bench.pg_audit on a small set: the copy into PostgreSQL, its timing pass and its comparison with SQLite's pages."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from bench.data import dataset
from bench.pg_audit import _urls, audit, compare, copy_dataset
from sqlalchemy.engine import Engine

from tests.backends import postgres_unreachable

pytestmark = pytest.mark.postgres


def test_the_copy_serves_every_listing_as_sqlite_does() -> None:
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    loaded = dataset(300)
    name = f"zcontacts_audit_{loaded.count}"
    admin_url, _ = _urls(name)

    def customers(engine: Engine) -> Any:
        with engine.begin() as connection:
            return connection.exec_driver_sql("SELECT count(*) FROM contacts").scalar()

    try:
        engine = copy_dataset(loaded, fresh=True)
        assert customers(engine) == loaded.count
        compared, differ = compare(engine, loaded, [1, 5])
        assert (compared, differ) == (1240, [])
        read, slow = audit(engine, loaded.organization_id, [1], 0.0, only="email")
        assert read == len(slow) > 100  # every page read, each slower than 0 ms
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "DELETE FROM contacts WHERE contact_id = (SELECT min(contact_id) FROM contacts)"
            )
        engine.dispose()
        again = copy_dataset(loaded)  # kept: a second run finds the copy made and does not copy again
        assert customers(again) == loaded.count - 1
        again.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
