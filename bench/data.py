"""Benchmark data: deterministic customers, loaded through the domain rules and the repository's batch insert,
cached on disk per schema revision so later runs start at once.

Each customer is built by `create_contact` (the API's own rules: ids, primary person, time stamps, rendered
JSON) against `BulkStore` (zcontacts.storage.bulk, shared with `zcontacts import`), which hands out ids from
one block per batch and collects the contacts; the batch is then written by `ContactsRepo.insert_many` in one
large transaction. The result is the same rows and
stored JSON the API writes, about fifty times faster than posting each customer."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Connection, text

from zcontacts.cli import create_organization, create_token
from zcontacts.domain.contacts import Stamp, create_contact
from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import AddressIn, ContactCreate, ContactPersonIn, CustomFieldIn
from zcontacts.domain.scopes import FULL_ACCESS
from zcontacts.storage import ids, migrate
from zcontacts.storage.bulk import BulkStore
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database
from zcontacts.storage.search_index import segments

# Bump when the generated data changes, so cached files made by older code are not reused.
GENERATOR_VERSION = 1
BATCH = 10_000
CACHE = Path(__file__).resolve().parent / ".cache"
EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z; customers are created one a minute from here
COMPANIES = 2_000

FIRST = ("Ada Alan Bea Carl Dana Eli Fay Gus Hana Ivan Jade Ken Lea Max Nia Omar Pia Quin Rosa Sam Tara "
         "Uma Vic Wes Xia Yara Zed Anil Bo Chen Dev Emma Finn Gita Hugo Iris Jon Kai Luz Mira").split()  # fmt: skip
LAST = ("Adams Brown Clark Diaz Evans Fox Garcia Hill Ito Jones Khan Lee Moore Nakamura Ortiz Patel Quinn Rossi "
        "Singh Taylor Ueda Vargas Wang Xu Young Zhang Kennedy Novak Olsen Park Reyes Silva Tanaka Weber").split()  # fmt: skip
WORDS = ("Digital Acme Global Blue River Summit Pioneer Apex Harbor Maple Orbit Quantum Vertex Cedar Nova "
         "Atlas Beacon Cobalt Delta Ember Falcon Granite Horizon Ivory Juniper Keystone Lumen Meridian").split()  # fmt: skip
KINDS = ("Labs Foods Systems Logistics Studio Partners Traders Works Health Media Capital Motors").split()
CITIES = (("San Francisco", "CA", "USA"), ("Austin", "TX", "USA"), ("Pune", "MH", "India"),
          ("Berlin", "BE", "Germany"), ("Leeds", "ENG", "UK"), ("Osaka", "27", "Japan"))  # fmt: skip
DOMAINS = ("gmail.com", "outlook.com", "example.org", "mail.io", "corp.net")


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark database and what the workloads need to address it."""

    path: Path
    count: int
    revision: str
    organization_id: str
    token: str
    first_id: int  # every loaded contact id is in [first_id, last_id]; later ones are the run's own
    last_id: int
    sample_ids: list[str]  # loaded contacts for get-by-id, rotating
    companies: list[str]  # company names for the filter workload
    search_terms: list[str]  # substrings that find a few customers each

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database."""
        return f"sqlite:///{self.path}"


def company_name(index: int) -> str:
    """The company of the index-th company (COMPANIES distinct names)."""
    return f"{WORDS[index % len(WORDS)]} {KINDS[(index // len(WORDS)) % len(KINDS)]} {index:04d}"


def customer_body(n: int) -> ContactCreate:
    """The create body of the n-th customer: deterministic, realistic lengths, unique name and email."""
    rng = random.Random(n * 7919 + GENERATOR_VERSION)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = company_name(rng.randrange(COMPANIES))
    city, state, country = rng.choice(CITIES)
    # A scrambled suffix keeps names unique without making creation order the name order.
    tag = format((n * 2_654_435_761) % 4_294_967_291, "x")
    email = f"{first}.{last}.{tag}@{rng.choice(DOMAINS)}".lower()
    phone = f"+1-{rng.randrange(200, 999)}-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
    address = AddressIn(
        address=f"{rng.randrange(1, 9999)}, {rng.choice(WORDS)} Street",
        city=city,
        state=state,
        zip=f"{rng.randrange(10000, 99999)}",
        country=country,
    )
    persons = [
        ContactPersonIn(
            salutation=rng.choice(("Mr.", "Ms.", "Dr.")),
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            is_primary_contact=True,
        )
    ]
    if rng.random() < 0.3:
        persons.append(ContactPersonIn(first_name=rng.choice(FIRST), last_name=last, email=f"ops.{email}"))
    return ContactCreate(
        contact_name=f"{first} {last} {tag}",
        company_name=company,
        website=f"{company.split()[0].lower()}{n % 97}.example.com",
        billing_address=address,
        shipping_address=address if rng.random() < 0.5 else None,
        contact_persons=persons,
        custom_fields=[CustomFieldIn(customfield_id="46000000012845", value=rng.choice(("Normal", "Gold")))],
        notes="Imported for the benchmark.",
    )


def search_term(n: int) -> str:
    """A substring that finds the n-th customer (and few others): part of its scrambled name tag."""
    return format((n * 2_654_435_761) % 4_294_967_291, "x")[:6]


def insert_customers(database: Database, org: Organization, numbers: range) -> tuple[int, int]:
    """Create the customers numbered `numbers` in one transaction; returns their lowest and highest id."""
    bodies = [customer_body(n) for n in numbers]
    # 3 ids per customer (contact and two addresses) plus one per person.
    needed = sum(3 + len(body.contact_persons or []) for body in bodies)

    def work(connection: Connection) -> tuple[int, int]:
        # A large page cache for the load only: index inserts in random key order stay in memory.
        connection.exec_driver_sql("PRAGMA cache_size=-524288")
        store = BulkStore(ids.allocate(connection, needed))
        for n, body in zip(numbers, bodies, strict=True):
            create_contact(store, org, body, Stamp(at_ms=EPOCH_MS + n * 60_000))
        ContactsRepo(connection).insert_many(org.organization_id, store.created)
        contact_ids = [int(record.contact.contact_id) for record, _ in store.created]
        return min(contact_ids), max(contact_ids)

    return database.run(work, write=True)


def cache_path(count: int) -> Path:
    """Where the dataset of `count` customers is cached: keyed by size, schema revision and generator."""
    return CACHE / f"customers-{count}-rev{migrate.head_revision()}-g{GENERATOR_VERSION}.db"


def dataset(count: int, *, progress: Progress | None = None) -> Dataset:
    """The cached dataset of `count` customers, loading it first if no cache matches this code."""
    path = cache_path(count)
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        _upgrade_older_cache(count, path)
    if path.exists() and meta.exists():
        loaded = Dataset(**{**json.loads(meta.read_text()), "path": path})
        reset(loaded)
        return loaded
    partial = path.with_suffix(".loading")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    loaded = _load(partial, count, progress)
    shutil.move(partial, path)
    loaded = Dataset(**{**asdict(loaded), "path": path})
    meta.write_text(json.dumps({k: v for k, v in asdict(loaded).items() if k != "path"}))
    return loaded


def _upgrade_older_cache(count: int, path: Path) -> None:
    """A dataset cached under an older schema revision is migrated forward (as users' databases are) rather
    than loaded again; its files are renamed to the current revision's."""
    for older in sorted(CACHE.glob(f"customers-{count}-rev*-g{GENERATOR_VERSION}.db")):
        meta = older.with_suffix(".json")
        if older == path or not meta.exists():
            continue
        print(
            f"upgrading the cached {count:,}-customer set from {older.name} to revision {migrate.head_revision()}"
        )
        database = Database.from_url(f"sqlite:///{older}")
        try:
            migrate.upgrade(database.engine)
        finally:
            database.dispose()
        _checkpoint(older)
        described = json.loads(meta.read_text())
        described["revision"] = migrate.head_revision() or ""
        shutil.move(older, path)
        path.with_suffix(".json").write_text(json.dumps(described))
        meta.unlink()
        return


def _load(path: Path, count: int, progress: Progress | None) -> Dataset:
    database = Database.from_url(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    org = create_organization(database, "Benchmark Org", "USD", "Asia/Kolkata")
    token = create_token(database, org.organization_id, [FULL_ACCESS])
    owned = progress or _progress()
    task = owned.add_task(f"loading {count:,} customers", total=count)
    first_id, last_id = 0, 0
    started = time.monotonic()
    with owned if progress is None else contextlib.nullcontext():
        for start in range(0, count, BATCH):
            low, high = insert_customers(database, org, range(start, min(count, start + BATCH)))
            first_id = first_id or low
            last_id = high
            owned.advance(task, min(BATCH, count - start))
    database.dispose()
    _checkpoint(path)
    _compact(path, search_index=True)
    elapsed = time.monotonic() - started
    owned.console.print(f"loaded {count:,} customers in {elapsed:.1f} s ({count / elapsed:,.0f}/s)")
    return describe(path, count, org.organization_id, token, first_id, last_id)


def describe(
    path: Path, count: int, organization_id: str, token: str, first_id: int, last_id: int
) -> Dataset:
    """What the workloads need to know about a loaded database: sample ids, companies, search terms."""
    rng = random.Random(count)
    samples = sorted(rng.sample(range(count), min(count, 1000)))
    # Ids are allocated in creation order, so the n-th customer's id is found from the table, not guessed.
    sample_ids = _ids_of(path, organization_id, samples)
    return Dataset(
        path=path,
        count=count,
        revision=migrate.head_revision() or "",
        organization_id=organization_id,
        token=token,
        first_id=first_id,
        last_id=last_id,
        sample_ids=sample_ids,
        companies=[company_name(i) for i in rng.sample(range(COMPANIES), 100)],
        search_terms=[search_term(n) for n in samples[:200]],
    )


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the database file, so the cached file stands alone."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()


def _ids_of(path: Path, organization_id: str, numbers: list[int]) -> list[str]:
    """Contact ids of the customers with these creation numbers (their created_at_ms says which is which)."""
    database = Database.from_url(f"sqlite:///{path}")
    stamps = [EPOCH_MS + n * 60_000 for n in numbers]
    # Served by the (organization_id, created_at_ms, contact_id) index.
    statement = text("SELECT contact_id FROM contacts WHERE organization_id = :org AND created_at_ms = :at")

    def work(connection: Connection) -> list[str]:
        org = int(organization_id)
        return [str(connection.execute(statement, {"org": org, "at": at}).scalar_one()) for at in stamps]

    try:
        return database.run(work, write=False)
    finally:
        database.dispose()


def warm(loaded: Dataset, chunk: int = 16 << 20) -> tuple[int, float]:
    """Read the dataset's file once, so its pages start in the OS page cache (as on a server that has been
    serving it) and no target is measured on reads from disk that the next one is spared. Returns (bytes
    read, seconds). Where memory is short the cache keeps what fits, as it would in production."""
    started = time.monotonic()
    total = 0
    with open(loaded.path, "rb", buffering=0) as file:
        while block := file.read(chunk):
            total += len(block)
    return total, time.monotonic() - started


def reset(loaded: Dataset) -> int:
    """Remove every contact a benchmark run added (ids above the loaded range), so the cache stays as loaded;
    returns how many were removed."""

    def remove(connection: Connection) -> int:
        # History outlives its contact: the run's history goes too, or every run would grow the file.
        connection.execute(
            text("DELETE FROM contact_history WHERE contact_id > :last"), {"last": loaded.last_id}
        )
        deleted = connection.execute(
            text("DELETE FROM contacts WHERE contact_id > :last"), {"last": loaded.last_id}
        )
        return int(deleted.rowcount)

    database = Database.from_url(loaded.url)
    try:
        removed = database.run(remove, write=True)
    finally:
        database.dispose()
    _compact(loaded.path, search_index=removed > 0)
    return removed


def _compact(path: Path, *, search_index: bool) -> None:
    """Merge the trigram index into one segment after a run's customers were removed: until a merge reaches
    them, FTS5 keeps their entries and the deletion markers that cancel them, and every later write pays to
    merge them along (the small set's index had grown tenfold over a few runs, and an index write cost 2 ms
    instead of 0.25). Then VACUUM the file when most of it is free pages a run left behind (the small set's
    file grew eightfold over a few runs); the 1,000,000 set, mostly live rows, is left alone (a VACUUM would
    take minutes)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        # A freshly loaded set's index is in many segments (21 over 1,000,000); a server merges it once writes
        # are quiet (storage/search_index.py), so the benchmark starts from what it would serve (4.5 s).
        if search_index or segments(connection) > 1:
            connection.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('optimize')")
            connection.execute("UPDATE contacts_fts_upkeep SET cancelled_entries = 0")  # none left (0008)
            connection.commit()
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        (free,) = connection.execute("PRAGMA freelist_count").fetchone()
        if free * 2 > pages:
            connection.execute("VACUUM")


def checkpoint(loaded: Dataset) -> None:
    """Copy the WAL back into the dataset's file and empty it, so a cell does not start by paying, in its
    servers' checkpoints, for rows the benchmark itself inserted (victims)."""
    with contextlib.closing(sqlite3.connect(loaded.path, timeout=30)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def add_victims(loaded: Dataset, count: int, start: int) -> list[str]:
    """`count` extra customers (numbered from `start`, beyond the loaded ones) for update and delete to use."""
    database = Database.from_url(loaded.url)
    org = database.run(lambda c: _organization(c, loaded.organization_id), write=False)
    try:
        made: list[str] = []
        for low in range(start, start + count, BATCH):
            numbers = range(low, min(start + count, low + BATCH))
            first, last = insert_customers(database, org, numbers)
            made.extend(
                database.run(
                    lambda c, a=first, b=last: [
                        str(row[0])
                        for row in c.execute(
                            text("SELECT contact_id FROM contacts WHERE contact_id BETWEEN :a AND :b"),
                            {"a": a, "b": b},
                        )
                    ],
                    write=False,
                )
            )
        return made
    finally:
        database.dispose()


def _organization(connection: Connection, organization_id: str) -> Organization:
    from zcontacts.storage.organizations import OrganizationsRepo

    org = OrganizationsRepo(connection).get(organization_id)
    assert org is not None
    return org


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def iter_docs(loaded: Dataset, limit: int | None = None) -> Iterator[bytes]:
    """The stored JSON of the loaded customers, in id order (for peers that hold the same records)."""
    database = Database.from_url(loaded.url)
    statement = "SELECT doc FROM contacts WHERE contact_id BETWEEN ? AND ? ORDER BY contact_id"
    if limit is not None:
        statement += f" LIMIT {int(limit)}"
    try:
        with database.engine.connect() as connection:
            for row in connection.exec_driver_sql(statement, (loaded.first_id, loaded.last_id)):
                yield bytes(row[0])
    finally:
        database.dispose()
