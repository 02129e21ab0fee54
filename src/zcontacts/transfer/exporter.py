"""`zcontacts export`: an organization's contacts to CSV or JSON Lines, read in pages of PAGE by id (each
page its own short read) and written as they come, so memory stays bounded whatever the size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zcontacts.storage.bulk import BulkRepo
from zcontacts.storage.database import Database
from zcontacts.storage.organizations import OrganizationsRepo
from zcontacts.transfer.formats import csv_cells, csv_writer, format_of, json_line

PAGE = 1000


def count_contacts(database: Database, organization_id: str) -> int:
    """How many contacts an export of the organization will write."""
    return database.run(lambda c: BulkRepo(c).count(organization_id), write=False)


def export_file(
    database: Database,
    organization_id: str,
    path: Path,
    *,
    fmt: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write every contact of the organization to `path`, in id order; returns how many. `on_progress` gets
    the count written so far."""
    kind = format_of(path, fmt)
    if database.run(lambda c: OrganizationsRepo(c).get(organization_id), write=False) is None:
        raise ValueError(f"no organization {organization_id}")
    written = 0
    after = 0
    with path.open("w", encoding="utf-8", newline="") as text:
        writer = csv_writer(text) if kind == "csv" else None
        while True:
            records = database.run(
                lambda c, a=after: BulkRepo(c).records_after(organization_id, a, PAGE),  # type: ignore[misc]
                write=False,
            )
            for record in records:
                if writer is not None:
                    writer.writerow(csv_cells(record))
                else:
                    text.write(json_line(record).decode())
            written += len(records)
            if on_progress is not None:
                on_progress(written)
            if len(records) < PAGE:
                return written
            after = int(records[-1].contact.contact_id)
