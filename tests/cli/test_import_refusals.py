"""What an import refuses row by row that a reader might let through or stop at, as the API refuses it: NUL
characters, bytes that are not UTF-8, nesting past the interpreter's limit, cells past the CSV reader's limit
and additional addresses past the cap; on each backend."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from tests.cli.test_transfer import contact_count, exported, history_count, write_csv, write_jsonl
from tests.helpers import make_tenant
from zcontacts.cli import app
from zcontacts.domain.contact_parts import MAX_ADDITIONAL_ADDRESSES
from zcontacts.storage.database import Database
from zcontacts.transfer import import_file

NUL_REFUSED = "strings must not contain NUL characters"


def cli_import(
    database_url: str, organization_id: str, source: Path, content: bytes, *options: str
) -> Result:
    """`zcontacts import` run in-process on a file of `content`."""
    source.write_bytes(content)
    command = ["import", str(source), "--org", organization_id, "--database-url", database_url, *options]
    return CliRunner().invoke(app, command)


def test_a_nul_in_any_csv_cell_is_a_bad_row_naming_its_column(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    header = ["contact_id", "contact_name", "notes", "billing_city", "first_name"]
    rows = [
        ["", "Good One", "", "", ""],
        ["", "Nul Notes", "a\x00b", "", ""],
        ["", "Nul City", "", "Pu\x00ne", ""],
        ["", "Nul Person", "é", "", "\x00"],
        ["9\x00", "Nul Id", "", "", ""],  # a column import ignores: the API refuses a NUL anywhere too
        ["", "Good Two", "C:\\u0000", "", "Zoë"],
    ]
    report = import_file(database, tenant.organization_id, write_csv(tmp_path / "in.csv", header, rows))
    assert (report.created, report.failed) == (2, 4)
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "notes"), (4, "billing_city"), (5, "first_name"), (6, "contact_id"),
    ]  # fmt: skip
    assert report.errors[0].message == f"Invalid value passed for notes: {NUL_REFUSED}."
    assert [row["notes"] for row in exported(database, tenant.organization_id, tmp_path / "out.csv")] == [
        "", "C:\\u0000",
    ]  # fmt: skip


def test_an_escaped_nul_anywhere_in_a_json_line_is_a_bad_row_naming_its_field(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"contact_name": "Nul Notes", "notes": "a\\u0000b"}\n'
        '{"contact_name": "Nul Person", "contact_persons": [{"first_name": "A"}, {"email": "\\u0000"}]}\n'
        '{"contact_name": "Nul Address", "addresses": [{"city": "x\\u0000"}]}\n'
        '{"contact_name": "Nul Key", "billing_address": {"ci\\u0000ty": "x"}}\n'
        '{"contact_name": "Nul Ignored", "created_time": "\\u0000"}\n'
        '{"contact_name": "Good", "notes": "C:\\\\u0000"}\n',
        encoding="utf-8",
    )
    report = import_file(database, tenant.organization_id, path)
    assert (report.created, report.failed) == (1, 5)
    assert [(e.row, e.field) for e in report.errors] == [
        (1, "notes"), (2, "contact_persons[1].email"), (3, "addresses[0].city"), (4, "billing_address"),
        (5, "created_time"),
    ]  # fmt: skip
    assert all(e.message.endswith(f"{NUL_REFUSED}.") for e in report.errors)
    (line,) = exported(database, tenant.organization_id, tmp_path / "out.jsonl")
    assert line["notes"] == "C:\\u0000"


def test_cli_reports_a_nul_as_a_bad_row_on_each_backend(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    content = b"contact_name,notes\nNul Co,a\x00b\nFine Co,b\n"
    result = cli_import(database_url, tenant.organization_id, tmp_path / "nul.csv", content)
    assert result.exit_code == 1  # not a crash (PostgreSQL cannot store a NUL): a bad row
    assert "created=1 updated=0 unchanged=0 failed=1" in result.stdout
    assert f"row 2, field notes: Invalid value passed for notes: {NUL_REFUSED}." in result.stderr
    assert contact_count(database, tenant.organization_id) == 1


def test_a_csv_row_that_is_not_utf8_is_a_bad_row_and_later_rows_still_import(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"contact_name,notes\n"
        b'One,"spans\nlines"\n'  # a quoted cell over two lines is still one row: row numbers stay right
        b"Caf\xe9,x\n"
        b'Three,"more\n\xff\nlines"\n'
        b"Four,\xed\xa0\x80\n"  # an encoded surrogate is not UTF-8 either
        b"Five,\xc3\xa9\n"
    )
    report = import_file(database, tenant.organization_id, source, batch_size=2)
    assert (report.created, report.failed) == (2, 3)
    assert [(e.row, e.field, e.message) for e in report.errors] == [
        (3, "contact_name", "Invalid value passed for contact_name: the text is not valid UTF-8 (byte 0xe9)."),
        (4, "notes", "Invalid value passed for notes: the text is not valid UTF-8 (byte 0xff)."),
        (5, "notes", "Invalid value passed for notes: the text is not valid UTF-8 (byte 0xed)."),
    ]  # fmt: skip
    lines = exported(database, tenant.organization_id, tmp_path / "out.jsonl")
    assert [(line["contact_name"], line["notes"]) for line in lines] == [
        ("One", "spans\nlines"),
        ("Five", "é"),
    ]


def test_a_json_line_that_is_not_utf8_is_a_bad_row(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"contact_name": "Good"}\n{"contact_name": "Caf\xe9"}\n{"contact_name": "After"}\n')
    report = import_file(database, tenant.organization_id, source)
    assert (report.created, report.failed) == (2, 1)
    assert [(e.row, e.field, e.message) for e in report.errors] == [
        (2, "", "JSON is not well formed: the line is not valid UTF-8 (byte 0xe9)."),
    ]


def test_cli_counts_a_row_that_is_not_utf8_as_bad_and_strict_keeps_nothing(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    source, content = tmp_path / "in.csv", b"contact_name\nOne\nTwo\nCaf\xe9\nFour\n"
    result = cli_import(database_url, tenant.organization_id, source, content, "--strict")
    assert result.exit_code == 1
    assert "row 4, field contact_name:" in result.stderr
    assert contact_count(database, tenant.organization_id) == 0
    errors = tmp_path / "errors.csv"
    result = cli_import(database_url, tenant.organization_id, source, content, "--errors", str(errors))
    assert result.exit_code == 1
    assert "created=3 updated=0 unchanged=0 failed=1" in result.stdout
    assert "4 rows: 3 were created, 0 were updated, 0 unchanged, 1 bad" in result.stderr
    assert errors.read_text(encoding="utf-8").splitlines()[1].startswith("4,contact_name,")
    assert contact_count(database, tenant.organization_id) == 3


def test_cli_refuses_a_csv_header_that_is_not_utf8_before_writing(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    content = b"contact_name,no\xe9tes\nOne,x\n"
    result = cli_import(database_url, tenant.organization_id, tmp_path / "in.csv", content)
    assert result.exit_code == 2
    assert "the CSV header (row 1) is not valid UTF-8 (byte 0xe9)" in result.stderr
    assert contact_count(database, tenant.organization_id) == 0


def test_a_json_line_nested_past_the_recursion_limit_is_a_bad_row(database: Database, tmp_path: Path) -> None:
    tenant = make_tenant(database)
    source = tmp_path / "in.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    source.write_text(f'{{"contact_name": "Deep", "junk": {deep}}}\n{{"contact_name": "After"}}\n')
    report = import_file(database, tenant.organization_id, source)
    assert (report.created, report.failed) == (1, 1)
    assert [(e.row, e.message) for e in report.errors] == [
        (1, "JSON is not well formed: the line is nested too deeply."),
    ]


def test_a_csv_cell_past_the_readers_limit_is_a_bad_row_that_ends_the_file(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    rows = [["One", ""], ["Huge", "x" * 200_000], ["Three", ""]]
    source = write_csv(tmp_path / "in.csv", ["contact_name", "notes"], rows)
    report = import_file(database, tenant.organization_id, source)
    assert (report.created, report.failed) == (1, 1)
    (error,) = report.errors
    assert (error.row, error.field) == (3, "")
    assert "the rest of the file is not read" in error.message


def addresses(count: int, prefix: str) -> list[dict[str, str]]:
    return [{"city": f"{prefix}{n}"} for n in range(count)]


def test_additional_addresses_past_the_cap_are_refused_and_a_refused_update_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(database)
    org = tenant.organization_id
    cap = MAX_ADDITIONAL_ADDRESSES
    rows = [
        {"contact_name": "Too Many", "addresses": addresses(cap + 1, "a")},
        {"contact_name": "Some", "notes": "first", "addresses": addresses(10, "a")},
    ]
    report = import_file(database, org, write_jsonl(tmp_path / "create.jsonl", rows))
    assert (report.created, [(e.row, e.field) for e in report.errors]) == (1, [(1, "addresses")])
    (before,) = exported(database, org, tmp_path / "before.jsonl")

    past = [
        {
            "contact_name": "Some",
            "notes": "changed",
            "status": "inactive",
            "addresses": addresses(cap - 9, "b"),
        }
    ]
    report = import_file(database, org, write_jsonl(tmp_path / "past.jsonl", past))
    assert (report.updated, [(e.row, e.field) for e in report.errors]) == (0, [(1, "addresses")])
    assert exported(database, org, tmp_path / "after.jsonl") == [before]
    assert history_count(database, org, before["contact_id"]) == 1

    up_to = [{"contact_name": "Some", "addresses": addresses(10, "a") + addresses(cap - 10, "b")}]
    report = import_file(database, org, write_jsonl(tmp_path / "up_to.jsonl", up_to))
    assert (report.updated, report.failed) == (1, 0)
    (line,) = exported(database, org, tmp_path / "full.jsonl")
    assert len(line["addresses"]) == cap
    assert line["addresses"][:10] == before["addresses"]
