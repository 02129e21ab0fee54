"""zcontacts import / export / reset on each backend: round trips, re-imports, per-row errors, dry runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import make_tenant
from zcontacts.cli import app
from zcontacts.storage.bulk import BulkRepo
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database
from zcontacts.transfer import export_file, import_file

# Fields the server makes: they differ between organizations and between runs.
SERVER_MADE = {"contact_id", "created_time", "last_modified_time", "currency_id", "primary_contact_id"}

CONTACTS = [
    {
        "contact_name": "Kenny Digital",
        "company_name": "Kenny Digital",
        "website": "kennedyr.com",
        "notes": "first, with \"quotes\" and a\nnewline",
        "status": "inactive",
        "billing_address": {"address": "3500, Bayshore", "street2": "Suite 4", "city": "Burlingame", "zip": "94010", "phone": "555"},
        "shipping_address": {"city": "Pune", "country": "India"},
        "contact_persons": [
            {"salutation": "Mr.", "first_name": "Ken", "last_name": "Kennedy", "email": "ken@kenny.io", "is_primary_contact": True},
            {"first_name": "Ops", "email": "ops@kenny.io", "department": "Ops"},
        ],
        "custom_fields": [{"customfield_id": "46000000012845", "value": "Gold"}],
        "addresses": [{"attention": "Depot", "address": "1 Depot Rd", "city": "Leeds"}],
    },
    {"contact_name": "Plain Co"},
    {"contact_name": "Ünïcode Ltd", "first_name": "Zoë", "email": "zoe@example.org", "phone": "+49 30 1"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def comparable(line: dict[str, Any]) -> dict[str, Any]:
    """A contact line without the server-made values (ids of persons and addresses too)."""
    kept = {k: v for k, v in line.items() if k not in SERVER_MADE}
    for key in ("billing_address", "shipping_address"):
        kept[key] = {k: v for k, v in kept[key].items() if k != "address_id"}
    kept["addresses"] = [{k: v for k, v in a.items() if k != "address_id"} for a in kept["addresses"]]
    kept["contact_persons"] = [
        {k: v for k, v in p.items() if k != "contact_person_id"} for p in kept["contact_persons"]
    ]
    return kept


def exported(database: Database, organization_id: str, path: Path) -> list[dict[str, Any]]:
    export_file(database, organization_id, path)
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def contact_count(database: Database, organization_id: str) -> int:
    return database.run(lambda c: BulkRepo(c).count(organization_id), write=False)


def history_count(database: Database, organization_id: str, contact_id: str) -> int:
    rows = database.run(
        lambda c: ContactsRepo(c).history(organization_id, contact_id, limit=1000, offset=0), write=False
    )
    return len(rows or [])


def test_json_lines_round_trip_into_a_fresh_organization_keeps_every_field(
    database: Database, tmp_path: Path
) -> None:
    first, second = make_tenant(database, name="First"), make_tenant(database, name="Second")
    report = import_file(database, first.organization_id, write_jsonl(tmp_path / "in.jsonl", CONTACTS))
    assert (report.created, report.failed) == (3, 0)
    out = exported(database, first.organization_id, tmp_path / "first.jsonl")
    import_file(database, second.organization_id, tmp_path / "first.jsonl")
    again = exported(database, second.organization_id, tmp_path / "second.jsonl")
    assert [comparable(line) for line in again] == [comparable(line) for line in out]
    kenny = next(line for line in out if line["contact_name"] == "Kenny Digital")
    assert kenny["status"] == "inactive"
    assert kenny["billing_address"]["street2"] == "Suite 4"
    assert [a["attention"] for a in kenny["addresses"]] == ["Depot"]
    assert [p["first_name"] for p in kenny["contact_persons"]] == ["Ken", "Ops"]
    assert kenny["first_name"] == "Ken"  # the primary person's fields are mirrored, as the API does
    assert kenny["custom_fields"] == [{"customfield_id": "46000000012845", "value": "Gold"}]


def test_csv_round_trip_keeps_the_flat_columns(database: Database, tmp_path: Path) -> None:
    first, second = make_tenant(database, name="First"), make_tenant(database, name="Second")
    import_file(database, first.organization_id, write_jsonl(tmp_path / "in.jsonl", CONTACTS))
    out = exported(database, first.organization_id, tmp_path / "first.csv")
    report = import_file(database, second.organization_id, tmp_path / "first.csv")
    assert (report.created, report.failed) == (3, 0)
    again = exported(database, second.organization_id, tmp_path / "second.csv")
    assert [{k: v for k, v in row.items() if k != "contact_id"} for row in again] == [
        {k: v for k, v in row.items() if k != "contact_id"} for row in out
    ]
    kenny = next(row for row in again if row["contact_name"] == "Kenny Digital")
    assert (kenny["salutation"], kenny["email"], kenny["billing_street2"], kenny["status"]) == (
        "Mr.", "ken@kenny.io", "Suite 4", "inactive",
    )  # fmt: skip
    assert "\n" in kenny["notes"]


def test_reimporting_the_same_file_changes_nothing(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    source = write_jsonl(tmp_path / "in.jsonl", CONTACTS)
    import_file(database, tenant.organization_id, source)
    before = exported(database, tenant.organization_id, tmp_path / "before.jsonl")
    report = import_file(database, tenant.organization_id, source)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert exported(database, tenant.organization_id, tmp_path / "after.jsonl") == before
    assert history_count(database, tenant.organization_id, before[0]["contact_id"]) == 1


def test_reimport_updates_by_name_ignoring_case_and_matches_persons(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    import_file(database, tenant.organization_id, write_jsonl(tmp_path / "in.jsonl", CONTACTS))
    changed = [
        {
            "contact_name": "KENNY DIGITAL",
            "website": "kenny.new",
            "status": "active",
            "contact_persons": [{"first_name": "Kenneth", "email": "ken@kenny.io"}],
        }
    ]
    report = import_file(database, tenant.organization_id, write_jsonl(tmp_path / "change.jsonl", changed))
    assert (report.created, report.updated) == (0, 1)
    assert contact_count(database, tenant.organization_id) == 3
    kenny = next(
        line for line in exported(database, tenant.organization_id, tmp_path / "out.jsonl") if line["website"]
    )
    assert kenny["contact_name"] == "KENNY DIGITAL"
    assert kenny["status"] == "active"
    assert [p["first_name"] for p in kenny["contact_persons"]] == [
        "Kenneth",
        "Ops",
    ]  # matched by email, not added
    assert kenny["first_name"] == "Kenneth"


def test_csv_reimport_updates_the_primary_person_in_place(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    header = ["contact_name", "first_name", "email", "billing_city"]
    import_file(
        database,
        tenant.organization_id,
        write_csv(tmp_path / "a.csv", header, [["Acme", "Ann", "ann@acme.io", "Pune"]]),
    )
    report = import_file(
        database,
        tenant.organization_id,
        write_csv(tmp_path / "b.csv", header, [["acme", "Anne", "anne@acme.io", ""]]),
    )
    assert report.updated == 1
    (row,) = exported(database, tenant.organization_id, tmp_path / "out.jsonl")
    assert [(p["first_name"], p["email"]) for p in row["contact_persons"]] == [("Anne", "anne@acme.io")]
    assert row["billing_address"]["city"] == ""  # an empty cell empties the field


def test_bad_rows_are_reported_by_row_and_field_and_good_rows_still_import(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    header = ["contact_name", "email", "salutation", "billing_zip", "status"]
    rows = [
        ["Good One", "one@example.org", "Ms", "", ""],
        ["Bad Mail", "not-an-address", "", "", ""],
        ["", "", "", "", ""],
        ["Long Zip", "", "", "9" * 51, ""],
        ["Bad Status", "", "", "", "archived"],
        ["Bad Salutation", "", "Sir", "", ""],
        ["Good Two", "", "", "", "inactive"],
    ]
    seen = []
    report = import_file(
        database, tenant.organization_id, write_csv(tmp_path / "in.csv", header, rows), on_error=seen.append
    )
    assert (report.created, report.failed) == (2, 5)
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "email"), (4, "contact_name"), (5, "billing_zip"), (6, "status"), (7, "salutation"),
    ]  # fmt: skip
    assert seen == report.errors
    assert "not-an-address" in report.errors[0].message
    assert contact_count(database, tenant.organization_id) == 2


def test_json_lines_errors_name_the_line_and_the_nested_field(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"contact_name": "Fine"}\n'
        "{not json\n"
        '{"contact_name": "Nested", "contact_persons": [{"email": "x"}]}\n'
        '{"contact_name": "Typed", "billing_address": {"city": 5}}\n'
        "[1, 2]\n",
        encoding="utf-8",
    )
    report = import_file(database, tenant.organization_id, path)
    assert report.created == 1
    assert [(e.row, e.field) for e in report.errors] == [
        (2, ""), (3, "contact_persons[0].email"), (4, "billing_address.city"), (5, ""),
    ]  # fmt: skip


def test_a_name_given_twice_in_one_file_makes_one_contact(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    rows = [{"contact_name": "Twice", "notes": "first"}, {"contact_name": "twice", "notes": "second"}]
    report = import_file(database, tenant.organization_id, write_jsonl(tmp_path / "in.jsonl", rows))
    assert (report.created, report.updated) == (1, 1)
    (line,) = exported(database, tenant.organization_id, tmp_path / "out.jsonl")
    assert line["notes"] == "second"


def test_small_batches_give_the_same_result(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    rows = [{"contact_name": f"Row {n}"} for n in range(7)] + [{"contact_name": "row 2", "notes": "later"}]
    report = import_file(
        database, tenant.organization_id, write_jsonl(tmp_path / "in.jsonl", rows), batch_size=3
    )
    assert (report.created, report.updated) == (7, 1)
    lines = exported(database, tenant.organization_id, tmp_path / "out.jsonl")
    assert [line["contact_name"] for line in lines] == [f"Row {n}" if n != 2 else "row 2" for n in range(7)]


def test_dry_run_counts_and_writes_nothing(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    report = import_file(
        database, tenant.organization_id, write_jsonl(tmp_path / "in.jsonl", CONTACTS), dry_run=True
    )
    assert (report.created, report.dry_run) == (3, True)
    assert contact_count(database, tenant.organization_id) == 0


def test_strict_stops_at_the_first_bad_row_and_keeps_nothing(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    rows = [{"contact_name": f"Row {n}"} for n in range(5)] + [
        {"contact_name": ""},
        {"contact_name": "After"},
    ]
    report = import_file(
        database, tenant.organization_id, write_jsonl(tmp_path / "in.jsonl", rows), strict=True, batch_size=2
    )
    assert report.aborted
    assert [(e.row, e.field) for e in report.errors] == [(6, "contact_name")]
    assert contact_count(database, tenant.organization_id) == 0


def test_cli_import_export_and_reset(database: Database, database_url: str, tmp_path: Path) -> None:
    tenant, other = make_tenant(database, name="Mine"), make_tenant(database, name="Other")
    source = write_jsonl(tmp_path / "in.jsonl", [*CONTACTS, {"contact_name": "Bad", "email": "nope"}])
    runner = CliRunner()
    common = ["--database-url", database_url]
    result = runner.invoke(
        app,
        [
            "import",
            str(source),
            "--org",
            tenant.organization_id,
            "--errors",
            str(tmp_path / "errors.csv"),
            *common,
        ],
    )
    assert result.exit_code == 1  # some rows were bad
    assert "created=3 updated=0 unchanged=0 failed=1" in result.stdout
    assert (tmp_path / "errors.csv").read_text().splitlines()[1].startswith("4,email,")
    runner.invoke(app, ["import", str(source), "--org", other.organization_id, *common])
    unwritable = runner.invoke(app, ["import", str(source), "--org", other.organization_id,
                                     "--errors", str(tmp_path / "no" / "such" / "e.csv"), *common])  # fmt: skip
    assert unwritable.exit_code == 2
    assert "cannot write --errors" in unwritable.output
    assert "Traceback" not in unwritable.output

    result = runner.invoke(
        app, ["export", str(tmp_path / "out.csv"), "--org", tenant.organization_id, *common]
    )
    assert (result.exit_code, result.stdout.strip()) == (0, "3")

    declined = runner.invoke(app, ["reset", "--org", tenant.organization_id, *common], input="n\n")
    assert declined.exit_code == 1
    assert contact_count(database, tenant.organization_id) == 3
    kenny_id = exported(database, tenant.organization_id, tmp_path / "ids.jsonl")[0]["contact_id"]
    result = runner.invoke(app, ["reset", "--org", tenant.organization_id, "--yes", *common])
    assert (result.exit_code, result.stdout.strip()) == (0, "3")
    assert contact_count(database, tenant.organization_id) == 0
    assert history_count(database, tenant.organization_id, kenny_id) == 0
    assert contact_count(database, other.organization_id) == 3  # other organizations are untouched


def test_cli_refuses_unknown_columns_and_organizations(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    runner = CliRunner()
    bad = write_csv(tmp_path / "bad.csv", ["contact_name", "shoe_size"], [["A", "9"]])
    result = runner.invoke(
        app, ["import", str(bad), "--org", tenant.organization_id, "--database-url", database_url]
    )
    assert result.exit_code == 2
    assert "shoe_size" in result.stderr
    good = write_csv(tmp_path / "good.csv", ["contact_name"], [["A"]])
    result = runner.invoke(app, ["import", str(good), "--org", "999", "--database-url", database_url])
    assert result.exit_code == 2
    assert "no organization 999" in result.stderr
    assert contact_count(database, tenant.organization_id) == 0


@pytest.mark.parametrize("suffix", [".txt", ".xlsx"])
def test_unknown_formats_are_refused(database: Database, tmp_path: Path, suffix: str) -> None:
    tenant = make_tenant(database)
    path = tmp_path / f"in{suffix}"
    path.write_text("contact_name\nA\n")
    with pytest.raises(ValueError, match="format"):
        import_file(database, tenant.organization_id, path)
