"""A contact's history as Zoho's `comments` list: stored rows rendered in the organization's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from zcontacts.domain.schemas import HistoryEntry
from zcontacts.domain.zoho_time import format_zoho, zone


class HistoryRow(msgspec.Struct, frozen=True):
    """One stored history entry."""

    history_id: str
    contact_id: str
    contact_name: str
    at_ms: int
    actor_id: str
    actor_name: str
    operation: str
    description: str
    changed_fields: list[str]


def render_entry(row: HistoryRow, time_zone: str) -> HistoryEntry:
    """The entry as the comments endpoint shows it (date and time like Zoho's, in the organization's zone)."""
    moment = datetime.fromtimestamp(row.at_ms / 1000, tz=UTC).astimezone(zone(time_zone))
    return HistoryEntry(
        comment_id=row.history_id,
        contact_id=row.contact_id,
        contact_name=row.contact_name,
        description=row.description,
        commented_by_id=row.actor_id,
        commented_by=row.actor_name,
        operation_type=row.operation,
        changed_fields=row.changed_fields,
        date=moment.strftime("%Y-%m-%d"),
        time=moment.strftime("%I:%M %p"),
        created_time=format_zoho(row.at_ms, time_zone),
    )
