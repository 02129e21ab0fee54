"""`zcontacts import`: rows become contacts through the domain's create and update rules, in batches of
BATCH rows per transaction. A row whose contact_name (ignoring case) already names a contact updates it, so
importing a file twice changes nothing the second time. New contacts of a batch are written together
(BulkStore and ContactsRepo.insert_many); updates go through the ordinary repository, one by one."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection

from zcontacts.domain.body_errors import translate
from zcontacts.domain.contact_parts import add_address, check_address_room
from zcontacts.domain.contacts import (
    ALL_CHILDREN,
    Change,
    ChildRows,
    ContactStore,
    Stamp,
    changed_fields,
    create_contact,
    name_key,
    set_status,
    update_contact,
)
from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import AddressDetail, AddressIn, ContactCreate, ContactRecord, ContactUpdate
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import InvalidValue, ZohoError
from zcontacts.storage.bulk import BulkRepo, BulkStore
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database
from zcontacts.storage.organizations import OrganizationsRepo
from zcontacts.transfer.formats import CountingReader, Row, RowError, format_of, read_rows

BATCH = 5000
# Errors kept in the report (all of them still reach `on_error`): a file of bad rows keeps memory bounded.
MAX_KEPT_ERRORS = 1000
STATUSES = ("active", "inactive")
IMPORTER = "import"

_FIELD_IN_MESSAGE = (
    re.compile(r"^Invalid value passed for (?P<field>[^:\s]+)"),
    re.compile(r"^(?P<field>\S+) (?:is required|must be at most)"),
)


@dataclass
class ImportReport:
    """What an import did (or, with dry_run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    # With strict, the first bad row stops the import and nothing is kept.
    aborted: bool = False

    @property
    def rows(self) -> int:
        """Rows read."""
        return self.created + self.updated + self.unchanged + self.failed


class _Stop(Exception):
    """Rolls the whole import back (dry runs, and strict imports at their first bad row)."""


def import_file(
    database: Database,
    organization_id: str,
    path: Path,
    *,
    fmt: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    bulk: bool = False,
    batch_size: int = BATCH,
    on_progress: Callable[[int], None] | None = None,
    on_error: Callable[[RowError], None] | None = None,
) -> ImportReport:
    """Import a CSV or JSON Lines file into an organization. Bad rows are reported (row number, field,
    message) and skipped; with `strict` the first one stops the import and nothing is written; with
    `dry_run` everything is checked and counted, then rolled back. With `bulk` (SQLite only) the whole file
    is one transaction that drops the contact tables' indexes first and rebuilds them at the end: much faster
    for large files, but it holds the write lock throughout. `on_progress` gets the bytes read."""
    kind = format_of(path, fmt)
    org = database.run(lambda c: OrganizationsRepo(c).get(organization_id), write=False)
    if org is None:
        raise ValueError(f"no organization {organization_id}")
    report = ImportReport(dry_run=dry_run)

    def failed(error: RowError) -> None:
        report.failed += 1
        if len(report.errors) < MAX_KEPT_ERRORS:
            report.errors.append(error)
        if on_error is not None:
            on_error(error)
        if strict:
            report.aborted = True
            raise _Stop

    with path.open("rb") as raw:
        counted = CountingReader(raw)
        batches = _batches(read_rows(io.BufferedReader(counted), kind), batch_size)

        def run_batch(connection: Connection, batch: list[Row | RowError]) -> None:
            _Batch(connection, org, report, failed).run(batch)
            if on_progress is not None:
                on_progress(counted.done)

        if dry_run or strict or bulk:
            # One transaction for the whole file: a strict import keeps all or nothing, a dry run nothing.
            def whole(connection: Connection) -> None:
                rebuild = BulkRepo(connection).suspend_indexes() if bulk else None
                for batch in batches:
                    run_batch(connection, batch)
                if dry_run:
                    raise _Stop
                if rebuild is not None:
                    BulkRepo(connection).restore_indexes(rebuild)

            try:
                database.run(whole, write=True)
            except _Stop:
                pass
            if report.aborted:
                report.created = report.updated = report.unchanged = 0
        else:
            for batch in batches:
                database.run(lambda c, b=batch: run_batch(c, b), write=True)  # type: ignore[misc]
    return report


def _batches(rows: Iterable[Row | RowError], size: int) -> Iterator[list[Row | RowError]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class _Batch:
    """One batch in one transaction: stored names looked up at once, new contacts collected and written
    together, existing ones updated in place."""

    def __init__(
        self,
        connection: Connection,
        org: Organization,
        report: ImportReport,
        failed: Callable[[RowError], None],
    ) -> None:
        self.connection = connection
        self.org = org
        self.report = report
        self.failed = failed
        self.repo = ContactsRepo(connection)
        self.pending: dict[str, str] = {}  # name key -> id of contacts created in this batch, not yet written
        self.store = BulkStore(
            more_ids=self.repo.allocate_ids, name_taken=self.pending.__contains__, keep_history=True
        )
        self.existing: dict[str, str] = {}

    def run(self, batch: list[Row | RowError]) -> None:
        rows = [row for row in batch if isinstance(row, Row)]
        bulk = BulkRepo(self.connection)
        bulk.prepare_bulk_write()
        self.existing = bulk.ids_by_name(
            self.org.organization_id, {name_key(row.name) for row in rows if row.name}
        )
        for row in batch:
            if isinstance(row, RowError):
                self.failed(row)
                continue
            try:
                self._one(row)
            except ZohoError as exc:
                self.failed(RowError(row.number, _field_of(exc.message, row.flat), exc.message))
        self.store.flush(self.connection, self.org.organization_id)

    def _one(self, row: Row) -> None:
        if row.status not in ("", *STATUSES):
            raise InvalidValue(f"Invalid value passed for status: {row.status!r} is not active or inactive.")
        additional = _addresses(row.additional)
        key = name_key(row.name)
        if key in self.pending:  # the file names this contact twice: the later row updates it
            self.store.flush(self.connection, self.org.organization_id)
            self.existing[key] = self.pending.pop(key)
        stamp = Stamp(at_ms=now_ms(), actor_name=IMPORTER)
        contact_id = self.existing.get(key)
        if contact_id is None:
            self._create(row, additional, stamp)
            self.report.created += 1
        elif self._update(contact_id, row, additional, stamp):
            self.report.updated += 1
        else:
            self.report.unchanged += 1

    def _create(self, row: Row, additional: list[AddressIn], stamp: Stamp) -> None:
        check_address_room(0, len(additional))  # the API adds them one by one, each checked
        body = _convert({**row.fields, **_new_persons(row)}, ContactCreate)
        create_contact(self.store, self.org, body, stamp)
        record, at_ms = self.store.created.pop()
        # Status and additional addresses are not part of a create body; they are set before the write.
        contact = msgspec.structs.replace(record.contact, status=row.status or record.contact.status)
        extra = [
            AddressDetail(address_id=str(i), **_given(a))
            for i, a in zip(self.store.allocate_ids(len(additional)), additional, strict=True)
        ]
        self.store.created.append((msgspec.structs.replace(record, contact=contact, additional=extra), at_ms))
        self.pending[name_key(record.contact.contact_name)] = record.contact.contact_id

    def _update(self, contact_id: str, row: Row, additional: list[AddressIn], stamp: Stamp) -> bool:
        """Bring a stored contact to the row's state; False (and nothing written) when it already is."""
        org_id = self.org.organization_id
        before = self.repo.load_for_update(org_id, contact_id)
        if before is None:  # deleted since the batch looked names up
            raise InvalidValue("Invalid value passed for contact_name: the customer was deleted meanwhile.")
        body = _convert({**row.fields, **_matched_persons(row, before)}, ContactUpdate)
        deferred = _Deferred(self.repo, before)
        after = update_contact(deferred, self.org, contact_id, body, stamp)
        new = _new_addresses(after, additional)
        # Before anything is written: a row refused midway would have kept what it wrote so far.
        check_address_room(len(after.additional), len(new))
        changed = bool(changed_fields(before, after))
        if changed:
            deferred.apply()
        if row.status and row.status != after.contact.status:
            set_status(self.repo, self.org, contact_id, row.status, stamp)
            changed = True
        for address in new:
            add_address(self.repo, self.org, contact_id, address, stamp)
        return changed or bool(new)


class _Deferred:
    """A ContactStore that reads through to the repository but holds writes back until `apply`: an update
    that changes nothing writes nothing (no history entry, no new last_modified_time)."""

    def __init__(self, repo: ContactsRepo, loaded: ContactRecord) -> None:
        self.repo = repo
        self.loaded = loaded  # already read (and locked) by the caller: not read twice
        self.writes: list[Callable[[], Any]] = []

    def allocate_ids(self, count: int) -> list[int]:
        return self.repo.allocate_ids(count)

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        return self.repo.name_taken(organization_id, name_key, except_contact_id)

    def load_for_update(self, organization_id: str, contact_id: str) -> ContactRecord | None:
        if contact_id == self.loaded.contact.contact_id:
            return self.loaded
        return self.repo.load_for_update(organization_id, contact_id)

    def contact_of_person(self, organization_id: str, contact_person_id: str) -> str | None:
        return self.repo.contact_of_person(organization_id, contact_person_id)

    def insert(self, organization_id: str, record: ContactRecord, at_ms: int) -> None:
        self.writes.append(lambda: self.repo.insert(organization_id, record, at_ms))

    def replace(
        self,
        organization_id: str,
        record: ContactRecord,
        at_ms: int,
        *,
        children: Collection[ChildRows] = ALL_CHILDREN,
    ) -> None:
        self.writes.append(lambda: self.repo.replace(organization_id, record, at_ms, children=children))

    def delete(self, organization_id: str, contact_id: str) -> str | None:
        self.writes.append(lambda: self.repo.delete(organization_id, contact_id))
        return self.loaded.contact.contact_name if contact_id == self.loaded.contact.contact_id else None

    def record_change(self, organization_id: str, change: Change) -> None:
        self.writes.append(lambda: self.repo.record_change(organization_id, change))

    def apply(self) -> None:
        for write in self.writes:
            write()


_check: type[ContactStore] = _Deferred  # _Deferred is a ContactStore (checked by mypy)


def _new_persons(row: Row) -> dict[str, Any]:
    """contact_persons of a create body: a CSV row's primary person when any of its cells is filled."""
    if not row.persons:
        return {}
    if row.flat:
        given = {k: v for k, v in row.persons[0].items() if v != ""}
        return {"contact_persons": [{**given, "is_primary_contact": True}]} if given else {}
    return {
        "contact_persons": [{k: v for k, v in p.items() if k != "contact_person_id"} for p in row.persons]
    }


def _matched_persons(row: Row, before: ContactRecord) -> dict[str, Any]:
    """contact_persons of an update body: each person of the row matched to a stored one (a CSV row's to the
    primary person; a JSON line's by contact_person_id, then by email), so re-imports update, not add."""
    stored = before.contact.contact_persons
    primary = next((p for p in stored if p.is_primary_contact), None)
    by_id = {p.contact_person_id: p.contact_person_id for p in stored}
    by_email = {p.email.casefold(): p.contact_person_id for p in stored if p.email}
    used: set[str] = set()
    persons = []
    for given in row.persons:
        person = {k: v for k, v in given.items() if k != "contact_person_id"}
        if row.flat:
            match = primary.contact_person_id if primary else None
            if match is None:
                if not any(v != "" for v in person.values()):
                    continue
                person["is_primary_contact"] = True
        else:
            email = person.get("email")
            match = by_id.get(str(given.get("contact_person_id") or "")) or (
                by_email.get(email.casefold()) if isinstance(email, str) else None
            )
        if match is not None and match not in used:
            person["contact_person_id"] = match
            used.add(match)
        persons.append(person)
    return {"contact_persons": persons} if persons else {}


class _Additional(msgspec.Struct):
    addresses: list[AddressIn]


def _addresses(additional: list[dict[str, Any]]) -> list[AddressIn]:
    return _convert({"addresses": additional}, _Additional).addresses if additional else []


def _new_addresses(record: ContactRecord, additional: list[AddressIn]) -> list[AddressIn]:
    """The row's additional addresses the contact does not have yet (each once)."""
    stored = [msgspec.structs.asdict(a) | {"address_id": ""} for a in record.additional]
    new = []
    for address in additional:
        wanted = msgspec.structs.asdict(AddressDetail(address_id="", **_given(address)))
        if wanted not in stored:
            stored.append(wanted)
            new.append(address)
    return new


def _given(address: AddressIn) -> dict[str, str]:
    """The fields an address body sets (null read as empty), without the server-owned id."""
    values = msgspec.structs.asdict(address)
    return {k: v or "" for k, v in values.items() if k != "address_id" and v is not msgspec.UNSET}


def _convert(value: dict[str, Any], kind: type[Any]) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise translate(exc) from None


def _field_of(message: str, flat: bool) -> str:
    """The field a refusal names; for a CSV row, as its column (billing_address.city is billing_city)."""
    found = ""
    for pattern in _FIELD_IN_MESSAGE:
        if match := pattern.match(message):
            found = match["field"]
            break
    if message.startswith("The customer ") and "already exists" in message:
        found = "contact_name"
    if message.endswith(" additional addresses."):
        found = "addresses"
    if flat and found:
        found = re.sub(r"^contact_persons\[\d+\]\.", "", found)
        found = re.sub(r"^(billing|shipping)_address\.", r"\1_", found)
        found = {"contact_salutation": "salutation"}.get(found, found)
    return found
