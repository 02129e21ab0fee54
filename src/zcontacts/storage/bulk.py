"""Many contacts at once: the batch store that imports and benchmark data create contacts through, and the
repository reads and writes of whole organizations (names of a batch, paging by id, history rows, reset)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sqlalchemy import Connection, delete, func, select

from zcontacts.domain.contacts import ALL_CHILDREN, Change, ChildRows
from zcontacts.domain.schemas import ContactRecord, decode_record
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.page_marks import MOVES_KEY, UNKNOWN
from zcontacts.storage.tables import contact_history, contacts

# Ids taken from the database at a time when a batch runs out (unused ones are simply never seen).
ID_BLOCK = 4096
# SQLite page cache of a bulk write, in KiB.
BULK_CACHE_KIB = 262_144


class BulkStore:
    """The domain's ContactStore for a batch of new contacts: ids come from pre-allocated blocks, and contacts
    (and, when `keep_history`, their history entries) are collected to be written by `flush` in one
    executemany per table. `name_taken` is the caller's check (names the batch already holds, or stored ones).
    Only creation goes through it; updates use the real ContactsRepo."""

    def __init__(
        self,
        id_block: Sequence[int] = (),
        *,
        more_ids: Callable[[int], list[int]] | None = None,
        name_taken: Callable[[str], bool] | None = None,
        keep_history: bool = False,
    ) -> None:
        self._ids = list(id_block)
        self._next = 0
        self._more_ids = more_ids
        self._name_taken = name_taken
        self.keep_history = keep_history
        self.created: list[tuple[ContactRecord, int]] = []
        self.changes: list[Change] = []

    def allocate_ids(self, count: int) -> list[int]:
        """The next `count` ids of the block (another block is fetched when it runs out)."""
        if self._next + count > len(self._ids):
            if self._more_ids is None:
                raise RuntimeError("the id block is used up")
            self._ids = self._ids[self._next :] + self._more_ids(max(count, ID_BLOCK))
            self._next = 0
        taken = self._ids[self._next : self._next + count]
        self._next += count
        return taken

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        """The caller's check; without one, names are unique by construction (benchmark data)."""
        return self._name_taken(name_key) if self._name_taken is not None else False

    def load_for_update(self, organization_id: str, contact_id: str) -> ContactRecord | None:
        """Not used by creation."""
        raise NotImplementedError

    def contact_of_person(self, organization_id: str, contact_person_id: str) -> str | None:
        """Not used by creation."""
        raise NotImplementedError

    def insert(self, organization_id: str, record: ContactRecord, at_ms: int) -> None:
        """Collect the contact for the batch write."""
        self.created.append((record, at_ms))

    def record_change(self, organization_id: str, change: Change) -> None:
        """Collect the history entry (benchmark data keeps none)."""
        if self.keep_history:
            self.changes.append(change)

    def replace(
        self,
        organization_id: str,
        record: ContactRecord,
        at_ms: int,
        *,
        children: Collection[ChildRows] = ALL_CHILDREN,
    ) -> None:
        """Not used by creation."""
        raise NotImplementedError

    def delete(self, organization_id: str, contact_id: str) -> str | None:
        """Not used by creation."""
        raise NotImplementedError

    def flush(self, connection: Connection, organization_id: str) -> int:
        """Write what was collected in the caller's transaction and start afresh; returns how many contacts."""
        count = len(self.created)
        ContactsRepo(connection).insert_many(organization_id, self.created)
        BulkRepo(connection).insert_history(organization_id, self.changes)
        self.created, self.changes = [], []
        return count


class BulkRepo:
    """Whole-organization reads and writes, for import, export and reset."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def prepare_bulk_write(self) -> None:
        """On SQLite, a larger page cache for this connection: a big import inserts into a dozen indexes in
        random key order, and with SQLite's default 2 MB cache nearly every insert reads pages back. The cache
        is bounded (BULK_CACHE_KIB), so memory stays bounded too. WAL checkpoints every ~80 MB instead of every
        4 MB: fewer fsyncs while a file streams in (200,000 rows: 73 → 63 s with 5,000-row batches)."""
        if self.connection.dialect.name == "sqlite":
            self.connection.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            self.connection.exec_driver_sql("PRAGMA wal_autocheckpoint=20000")

    def suspend_indexes(self) -> list[str]:
        """SQLite only, inside the caller's (write) transaction: drop the secondary indexes of the contacts table
        and the triggers that keep the trigram index in step, returning the SQL that recreates them (read from
        sqlite_master, so it is exactly what the migrations made). Building an index once over sorted rows is
        far cheaper than updating a dozen of them row by row; `restore_indexes` must run in the same
        transaction, so a failed load rolls back to the schema it found."""
        if self.connection.dialect.name != "sqlite":
            raise ValueError("bulk loading with rebuilt indexes is for SQLite databases")
        rows = self.connection.exec_driver_sql(
            # Unique constraints (sql IS NULL: autoindexes) stay, so names stay unique and found by index;
            # the child tables keep theirs, which updates (delete-and-rewrite of a contact's rows) need.
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name = 'contacts' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        ).all()
        for kind, name, _sql in rows:
            self.connection.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        return [sql for _kind, _name, sql in rows]

    def restore_indexes(self, statements: list[str]) -> None:
        """Recreate what `suspend_indexes` dropped and rebuild the trigram index from the contacts table (which
        makes whatever was queued for it moot: queued entries are dropped, not applied twice; and a rebuilt
        index holds no cancelled entries)."""
        for statement in statements:
            self.connection.exec_driver_sql(statement)
        self.connection.exec_driver_sql("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")
        self.connection.exec_driver_sql("DELETE FROM contacts_fts_pending")
        self.connection.exec_driver_sql("UPDATE contacts_fts_upkeep SET cancelled_entries = 0")

    def ids_by_name(self, organization_id: str, name_keys: Collection[str]) -> dict[str, str]:
        """Contact ids of the organization's contacts with these case-folded names (the unique index)."""
        if not name_keys:
            return {}
        rows = self.connection.execute(
            select(contacts.c.contact_name_key, contacts.c.contact_id).where(
                contacts.c.organization_id == int(organization_id),
                contacts.c.contact_name_key.in_(list(name_keys)),
            )
        )
        return {key: str(contact_id) for key, contact_id in rows}

    def count(self, organization_id: str) -> int:
        """How many contacts the organization has."""
        statement = select(func.count()).where(contacts.c.organization_id == int(organization_id))
        return int(self.connection.execute(statement).scalar_one())

    def records_after(self, organization_id: str, after_id: int, limit: int) -> list[ContactRecord]:
        """Up to `limit` full records with ids above `after_id`, in id order (export pages by id, so each page
        is an index range whatever the organization's size)."""
        rows = self.connection.execute(
            select(contacts.c.state_doc)
            .where(contacts.c.organization_id == int(organization_id), contacts.c.contact_id > after_id)
            .order_by(contacts.c.contact_id)
            .limit(limit)
        )
        return [decode_record(row[0]) for row in rows]

    def insert_history(self, organization_id: str, changes: Sequence[Change]) -> None:
        """History entries of many contacts, one executemany."""
        ContactsRepo(self.connection).record_changes(organization_id, changes)

    def delete_all(self, organization_id: str) -> int:
        """Remove every contact of the organization (their persons, addresses and custom fields cascade) and
        their history; returns how many contacts."""
        org = int(organization_id)
        self.connection.execute(delete(contact_history).where(contact_history.c.organization_id == org))
        result = self.connection.execute(delete(contacts).where(contacts.c.organization_id == org))
        moves = self.connection.info.get(MOVES_KEY)
        if moves is not None:  # too many to describe: kept deep-page marks go (storage/page_marks.py)
            moves.append(UNKNOWN)
        return int(result.rowcount)
