"""The contacts repository: the one place contact rows (and their rendered JSON) are read and written."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    column,
    delete,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from zcontacts.domain.contacts import duplicate_name, name_key
from zcontacts.domain.listing import SEARCH_SEPARATOR, FieldFilter, ListQuery
from zcontacts.domain.schemas import Contact, decode_contact, encode, summary_of
from zcontacts.storage import ids
from zcontacts.storage.tables import contact_addresses, contact_custom_fields, contact_persons, contacts

_SORT_COLUMNS = {
    "contact_name": contacts.c.contact_name_key,
    "company_name": contacts.c.company_name_key,
    "email": contacts.c.email_key,
    "created_time": contacts.c.created_at_ms,
    "last_modified_time": contacts.c.updated_at_ms,
}
_FILTER_COLUMNS = {
    "contact_name": contacts.c.contact_name_key,
    "company_name": contacts.c.company_name_key,
    "email": contacts.c.email_key,
    "phone": contacts.c.phone_key,
    "first_name": contacts.c.first_name_key,
    "last_name": contacts.c.last_name_key,
}
# Above every code point a key can hold: [v, v + _TOP) is exactly the keys starting with v (byte order).
_TOP = "\U0010ffff"
_FTS_MATCHES = {
    key: text(f"SELECT rowid FROM contacts_fts WHERE {key} GLOB :p_{key}").columns(
        column("rowid", BigInteger)
    )
    for key in ("search_key", *(f"{field}_key" for field in _FILTER_COLUMNS))
}


class ContactsRepo:
    """Contact rows of one connection's transaction; implements the domain's ContactStore."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"

    # ---- reads that serve stored bytes ------------------------------------------------------------------

    def get_doc(self, organization_id: str, contact_id: int) -> bytes | None:
        """The stored JSON of one contact, or None."""
        row = self.connection.execute(
            select(contacts.c.doc).where(
                contacts.c.contact_id == contact_id, contacts.c.organization_id == int(organization_id)
            )
        ).first()
        return None if row is None else bytes(row[0])

    def list_summaries(self, organization_id: str, query: ListQuery) -> list[bytes]:
        """Stored list rows of one page, plus one more row when a next page exists."""
        return [bytes(row[0]) for row in self.connection.execute(self.list_statement(organization_id, query))]

    def list_statement(self, organization_id: str, query: ListQuery) -> Select[bytes]:
        """The page query (exposed so tests can read its plan)."""
        statement = select(contacts.c.summary_doc).where(contacts.c.organization_id == int(organization_id))
        if query.status is not None:
            statement = statement.where(contacts.c.status == query.status)
        for condition in self._conditions(query):
            statement = statement.where(condition)
        sort = _SORT_COLUMNS[query.sort_column]
        # Names are unique per organization, so a name sort needs no id tie-break; without one PostgreSQL reads
        # the (organization_id, contact_name_key) unique index in order instead of sorting (as SQLite does).
        order = [sort] if query.sort_column == "contact_name" else [sort, contacts.c.contact_id]
        if query.sort_order == "D":
            statement = statement.order_by(*(column.desc() for column in order))
        else:
            statement = statement.order_by(*(column.asc() for column in order))
        return statement.limit(query.per_page + 1).offset(query.offset)

    def _conditions(self, query: ListQuery) -> list[ColumnElement[bool]]:
        conditions = [self._filter(f) for f in query.filters]
        if query.search_text:
            conditions.append(self._contains(contacts.c.search_key, "search_key", query.search_text))
        return conditions

    def _filter(self, field_filter: FieldFilter) -> ColumnElement[bool]:
        column = _FILTER_COLUMNS[field_filter.field]
        if field_filter.op == "eq":
            return column == field_filter.value
        if field_filter.op == "startswith":
            return (column >= field_filter.value) & (column < field_filter.value + _TOP)
        return self._contains(column, f"{field_filter.field}_key", field_filter.value)

    def _contains(self, column: Any, fts_column: str, value: str) -> ColumnElement[bool]:
        """Substring match served by a trigram index: FTS5 on SQLite, pg_trgm on PostgreSQL."""
        if self.sqlite:
            pattern = "*" + value.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]") + "*"
            return contacts.c.contact_id.in_(
                _FTS_MATCHES[fts_column].bindparams(**{f"p_{fts_column}": pattern})
            )
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        result: ColumnElement[bool] = column.like(f"%{escaped}%", escape="\\")
        return result

    # ---- ContactStore -----------------------------------------------------------------------------------

    def allocate_ids(self, count: int) -> list[int]:
        """`count` fresh server-wide ids."""
        return ids.allocate(self.connection, count)

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        """True when another contact of the organization has this case-folded name."""
        condition = (contacts.c.organization_id == int(organization_id)) & (
            contacts.c.contact_name_key == name_key
        )
        if except_contact_id is not None:
            condition = condition & (contacts.c.contact_id != int(except_contact_id))
        return bool(self.connection.execute(select(exists().where(condition))).scalar())

    def load_for_update(self, organization_id: str, contact_id: str) -> Contact | None:
        """The stored contact, row-locked until the transaction ends (PostgreSQL; SQLite holds the write lock)."""
        statement = select(contacts.c.doc).where(
            contacts.c.contact_id == int(contact_id), contacts.c.organization_id == int(organization_id)
        )
        if not self.sqlite:
            statement = statement.with_for_update()
        row = self.connection.execute(statement).first()
        return None if row is None else decode_contact(row[0])

    def insert(self, organization_id: str, contact: Contact, at_ms: int) -> None:
        """Write a new contact: its row, rendered JSON, addresses, persons and custom fields."""
        values = _contact_values(organization_id, contact, at_ms)
        values["created_at_ms"] = at_ms
        try:
            self.connection.execute(insert(contacts), values)
        except IntegrityError as exc:
            raise _duplicate_or(exc, contact) from exc
        self._write_children(organization_id, contact)

    def replace(self, organization_id: str, contact: Contact, at_ms: int) -> None:
        """Write a new state of an existing contact; children are rewritten in the same transaction."""
        values = _contact_values(organization_id, contact, at_ms)
        try:
            self.connection.execute(
                update(contacts).where(
                    contacts.c.contact_id == int(contact.contact_id),
                    contacts.c.organization_id == int(organization_id),
                ),
                values,
            )
        except IntegrityError as exc:
            raise _duplicate_or(exc, contact) from exc
        contact_id = int(contact.contact_id)
        for table in (contact_addresses, contact_persons, contact_custom_fields):
            # The organization too: every tenant statement names its shard key (docs/SCALING.md).
            self.connection.execute(
                delete(table).where(
                    table.c.contact_id == contact_id, table.c.organization_id == int(organization_id)
                )
            )
        self._write_children(organization_id, contact)

    def delete(self, organization_id: str, contact_id: str) -> bool:
        """Remove a contact; its children go with it (ON DELETE CASCADE)."""
        result = self.connection.execute(
            delete(contacts).where(
                contacts.c.contact_id == int(contact_id), contacts.c.organization_id == int(organization_id)
            )
        )
        return result.rowcount > 0

    def _write_children(self, organization_id: str, contact: Contact) -> None:
        org = int(organization_id)
        contact_id = int(contact.contact_id)
        self.connection.execute(
            insert(contact_addresses),
            [
                {**_address_values(address), "contact_id": contact_id, "organization_id": org, "kind": kind}
                for kind, address in (
                    ("billing", contact.billing_address),
                    ("shipping", contact.shipping_address),
                )
            ],
        )
        if contact.contact_persons:
            self.connection.execute(
                insert(contact_persons),
                [
                    {
                        **msgspec.structs.asdict(person),
                        "contact_person_id": int(person.contact_person_id),
                        "contact_id": contact_id,
                        "organization_id": org,
                        "position": position,
                    }
                    for position, person in enumerate(contact.contact_persons)
                ],
            )
        if contact.custom_fields:
            self.connection.execute(
                insert(contact_custom_fields),
                [
                    {
                        "contact_id": contact_id,
                        "customfield_id": field.customfield_id,
                        "organization_id": org,
                        "position": position,
                        "value_json": encode(field.value).decode(),
                    }
                    for position, field in enumerate(contact.custom_fields)
                ],
            )


def _address_values(address: Any) -> dict[str, Any]:
    values = msgspec.structs.asdict(address)
    values["address_id"] = int(values["address_id"])
    return values


def _contact_values(organization_id: str, contact: Contact, at_ms: int) -> dict[str, Any]:
    keys = {
        "contact_name_key": name_key(contact.contact_name),
        "company_name_key": contact.company_name.strip().casefold(),
        "email_key": contact.email.strip().casefold(),
        "phone_key": contact.phone.strip().casefold(),
    }
    return {
        "contact_id": int(contact.contact_id),
        "organization_id": int(organization_id),
        "contact_name": contact.contact_name,
        "company_name": contact.company_name,
        **keys,
        "first_name_key": contact.first_name.strip().casefold(),
        "last_name_key": contact.last_name.strip().casefold(),
        "search_key": SEARCH_SEPARATOR.join(keys.values()),
        "status": contact.status,
        "website": contact.website,
        "twitter": contact.twitter,
        "facebook": contact.facebook,
        "notes": contact.notes,
        "primary_contact_id": int(contact.primary_contact_id) if contact.primary_contact_id else None,
        "updated_at_ms": at_ms,
        "doc": encode(contact),
        "summary_doc": encode(summary_of(contact)),
    }


def _duplicate_or(exc: IntegrityError, contact: Contact) -> Exception:
    """A unique-name violation found by the database (a concurrent writer won the race) is a duplicate name."""
    if "contact_name_key" in str(exc.orig) or "uq_contacts" in str(exc.orig):
        return duplicate_name(contact.contact_name)
    return exc
