"""A consistency check of stored contacts: each contact's full record (state_doc) must agree with everything
else stored about it, so a half-written or torn contact cannot go unnoticed. Used by the crash, concurrency
and fuzz tests, and by `zcontacts db check`.

For every contact: its rendered JSON (doc) and list row (summary_doc) are exactly what the record renders to;
its searchable and sortable columns are what the record gives; its address, person and custom-field rows are
exactly the record's (no row missing, none extra, every value equal); and the record obeys the domain's rules
(`finish`: the primary person mirrored on the contact). Child rows whose contact is gone are reported too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from sqlalchemy import Connection, Table, select

from zcontacts.domain.contacts import finish
from zcontacts.domain.schemas import ContactRecord, decode_record
from zcontacts.storage.contacts import _children_rows, _contact_values
from zcontacts.storage.tables import contact_addresses, contact_custom_fields, contact_persons, contacts

_CHILD_TABLES = (contact_addresses, contact_persons, contact_custom_fields)
# Columns of the contacts row that the record does not determine.
_NOT_FROM_RECORD = {"created_at_ms", "updated_at_ms", "version", "state_doc"}


class Problem(msgspec.Struct, frozen=True):
    """One disagreement found in the stored data."""

    organization_id: str
    contact_id: str
    what: str

    def __str__(self) -> str:
        return f"organization {self.organization_id}, contact {self.contact_id}: {self.what}"


def check_contacts(connection: Connection, organization_id: str | None = None) -> list[Problem]:
    """Every problem found in the stored contacts (of one organization, or all); empty when consistent."""
    problems: list[Problem] = []
    statement = select(contacts).order_by(contacts.c.contact_id)
    if organization_id is not None:
        statement = statement.where(contacts.c.organization_id == int(organization_id))
    for row in connection.execute(statement).mappings():
        problems.extend(check_row(connection, dict(row)))
    problems.extend(_orphans(connection, organization_id))
    return problems


def check_row(connection: Connection, row: dict[str, Any]) -> Iterator[Problem]:
    """The problems of one stored contact row and its children."""
    org, contact_id = str(row["organization_id"]), str(row["contact_id"])

    def problem(what: str) -> Problem:
        return Problem(org, contact_id, what)

    if row["state_doc"] is None:
        yield problem("no stored record (state_doc is NULL)")
        return
    try:
        record = decode_record(bytes(row["state_doc"]))
    except msgspec.DecodeError as exc:
        yield problem(f"stored record does not decode: {exc}")
        return
    if record.contact.contact_id != contact_id:
        yield problem(f"record names contact {record.contact.contact_id}")
    if finish(record) != record:
        yield problem("record breaks the primary-person rule (finish(record) differs)")
    expected = _contact_values(org, record, int(row["updated_at_ms"]))
    for column, value in expected.items():
        if column in _NOT_FROM_RECORD:
            continue
        stored = row[column]
        if isinstance(stored, memoryview):
            stored = bytes(stored)
        if stored != value:
            yield problem(f"contacts.{column} is {_short(stored)}, the record gives {_short(value)}")
    for table, wanted in zip(_CHILD_TABLES, _children_rows(int(org), record), strict=True):
        yield from _compare_children(connection, table, int(contact_id), wanted, problem)


def _compare_children(connection: Connection, table: Table, contact_id: int, wanted: list[dict[str, Any]],
                      problem: Any) -> Iterator[Problem]:  # fmt: skip
    key = _row_key(table)
    stored_rows = connection.execute(select(table).where(table.c.contact_id == contact_id)).mappings().all()
    stored = {row[key]: {name: row[name] for name in row.keys()} for row in stored_rows}
    expected = {row[key]: row for row in wanted}
    for missing in expected.keys() - stored.keys():
        yield problem(f"{table.name} row {missing} is missing")
    for extra in stored.keys() - expected.keys():
        yield problem(f"{table.name} row {extra} is not in the record")
    for common in expected.keys() & stored.keys():
        for column, value in expected[common].items():
            if stored[common].get(column) != value:
                yield problem(
                    f"{table.name} row {common}: {column} is {_short(stored[common].get(column))}, "
                    f"the record gives {_short(value)}"
                )


def _row_key(table: Table) -> str:
    return {"contact_addresses": "address_id", "contact_persons": "contact_person_id"}.get(
        table.name, "customfield_id"
    )


def _orphans(connection: Connection, organization_id: str | None) -> Iterator[Problem]:
    for table in _CHILD_TABLES:
        statement = (
            select(table.c.organization_id, table.c.contact_id)
            .where(~select(contacts.c.contact_id).where(contacts.c.contact_id == table.c.contact_id).exists())
            .distinct()
        )
        if organization_id is not None:
            statement = statement.where(table.c.organization_id == int(organization_id))
        for org, contact_id in connection.execute(statement):
            yield Problem(str(org), str(contact_id), f"{table.name} rows without their contact")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def records(connection: Connection, organization_id: str) -> dict[str, ContactRecord]:
    """Every stored record of an organization by contact id (for tests comparing acknowledged writes)."""
    rows = connection.execute(
        select(contacts.c.contact_id, contacts.c.state_doc).where(
            contacts.c.organization_id == int(organization_id)
        )
    )
    return {str(contact_id): decode_record(bytes(state)) for contact_id, state in rows}
