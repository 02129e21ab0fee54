"""`zcontacts import --bulk`: one transaction that drops the contacts indexes and trigram triggers and rebuilds
them at the end. The schema must come back exactly, searches and filters must find the new rows, and a failed
or dry-run bulk import must leave schema and data as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.cli import app
from zcontacts.storage import search_index
from zcontacts.storage.database import Database
from zcontacts.transfer import import_file

pytestmark = pytest.mark.backends("sqlite")  # --bulk is a SQLite mode; PostgreSQL refuses it (test below)


def schema(database: Database) -> list[tuple[str, str, str]]:
    def read(connection: Any) -> list[tuple[str, str, str]]:
        rows = connection.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        return [tuple(row) for row in rows]

    return database.run(read, write=False)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def names(client: Any, tenant: Tenant, **params: str) -> list[str]:
    response = client.get(CONTACTS, params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [c["contact_name"] for c in response.json()["customers"]]


def test_bulk_import_rebuilds_indexes_and_search(
    client: Any, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    make_contact(client, tenant, contact_name="Existing Zebra", company_name="Old Co")
    gone = make_contact(client, tenant, contact_name="Deleted Before")
    client.delete(f"{CONTACTS}/{gone['contact_id']}", headers=tenant.headers)
    database.run(lambda connection: None, write=True)  # the queue applied: its unindex entry counted
    assert churn(database) == 1
    before = schema(database)
    rows = [
        {"contact_name": f"Bulk {n:03d}", "company_name": f"Co {n % 3}", "email": f"b{n}@bulk.example"}
        for n in range(40)
    ]
    rows.append({"contact_name": "existing zebra", "notes": "updated in bulk"})  # re-import updates by name
    rows.append({"contact_name": ""})  # a bad row is reported, the rest still lands
    report = import_file(
        database, tenant.organization_id, write_rows(tmp_path / "in.jsonl", rows), bulk=True, batch_size=7
    )
    assert (report.created, report.updated, report.failed) == (40, 1, 1)
    assert schema(database) == before  # every index and trigger back, exactly as the migrations made them
    assert churn(database) == 0  # a rebuilt index holds no cancelled entries
    assert names(client, tenant, search_text="bulk 01") == [f"Bulk {n:03d}" for n in range(10, 20)]
    assert names(client, tenant, search_text="zebra") == ["existing zebra"]  # the file's spelling wins
    assert len(names(client, tenant, company_name="Co 1")) == 13
    assert names(client, tenant, email_contains="b39@") == ["Bulk 039"]
    # The rebuilt trigram index keeps up with later writes through the API too.
    make_contact(client, tenant, contact_name="After Bulk Quokka")
    assert names(client, tenant, search_text="quokka") == ["After Bulk Quokka"]
    # What was queued for the index before the import was dropped by its rebuild, not applied on top of it:
    # with the queue applied (any write transaction outside group commit does), the index is exact.
    database.run(lambda connection: None, write=True)
    database.run(
        lambda c: c.exec_driver_sql(
            "INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('integrity-check', 1)"
        ),
        write=False,
    )


def churn(database: Database) -> int:
    """The trigram index's cancelled entries, as the compactor counts them (migration 0008)."""
    return database.run(lambda c: search_index.churn(c.connection.driver_connection), write=False)


@pytest.mark.parametrize("mode", ["strict", "dry_run"])
def test_a_failed_or_dry_bulk_import_leaves_schema_and_data_alone(
    client: Any, tenant: Tenant, database: Database, tmp_path: Path, mode: str
) -> None:
    make_contact(client, tenant, contact_name="Kept")
    before = schema(database)
    rows = [{"contact_name": "New One"}, {"contact_name": ""}, {"contact_name": "New Two"}]
    import_file(
        database, tenant.organization_id, write_rows(tmp_path / "in.jsonl", rows), bulk=True, **{mode: True}
    )
    assert schema(database) == before
    assert names(client, tenant) == ["Kept"]
    assert names(client, tenant, search_text="kept") == ["Kept"]


def test_cli_bulk_flag(database: Database, database_url: str, tenant: Tenant, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", [{"contact_name": f"Cli {n}"} for n in range(5)])
    result = CliRunner().invoke(
        app,
        ["import", str(source), "--org", tenant.organization_id, "--bulk", "--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    assert "created=5" in result.output


@pytest.mark.backends("postgresql")
def test_bulk_is_refused_on_postgresql(database: Database, tenant: Tenant, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SQLite"):
        import_file(database, tenant.organization_id, write_rows(tmp_path / "in.jsonl", []), bulk=True)
