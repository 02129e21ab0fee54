"""The band plan: a name prefix sorted by email (or an email prefix by name), read along the band of the sort's keys
that begin the same way.

Emails are most often made of names (`ivan.petrov…@` for Ivan Petrov), so a broad name prefix's matches sit together
in email order, where a walk of the email index meets them last in one direction: `contact_name_startswith=a` by
email descending over 1,000,000 customers passes ~925,000 entries before its first match, and sorting its 74,880
matches from the name order's index (which holds the list rows) took 53-60 ms. When every match's email begins with
the prefix too, the listing is the same as the one with `email_startswith=` the prefix beside it, whose page is the
email index's next entries in that band, each tested on its entry. The same holds the other way round:
`email_startswith=a` by name is `contact_name_startswith=a`'s band of the name order's index.

That holds when the matches are no more than the entries of the band that match: counted on the filter's own index,
then on the email index along the email prefix, the other key tested on each entry (it carries every filter key:
~0.15 µs an entry), in the snapshot the page is read in, and kept in its facts until the next commit. Only for
SQLite's hot reader, only where the sort would be long (LEAST), and a listing whose matches do not all lie in the
band is remembered per reader and not counted again."""

from __future__ import annotations

import sqlite3
from typing import Any

from zcontacts.domain.listing import ListQuery
from zcontacts.storage import walk_plan
from zcontacts.storage.run_plan import MOST, past

# The sort a band is read in (its key's field), and the filters whose keys begin the same way as its keys
# (bench/data.py: "First Last tag", `first.last.tag@…`). Not a first name by name: the value plan serves it.
BANDS = {"email": {"contact_name", "first_name"}, "contact_name": {"email"}}
# Fewer matches sort from the filter's index within a few ms (~0.35-0.7 µs each): no count is worth it.
LEAST = walk_plan.CAP
# Along an email prefix on the email index, which carries every filter key (migration 0015): its entries (any
# status), and those whose other key begins with the same prefix, tested on the entry alone.
_ALONG_EMAILS = (
    "SELECT count(*), count(CASE WHEN +contacts.{key} >= ? AND +contacts.{key} < ? THEN 1 END) FROM contacts "
    "WHERE contacts.organization_id = ? AND contacts.email_key >= ? AND contacts.email_key < ?"
)


def serves(query: ListQuery) -> bool:
    """A listing with one filter, a prefix of a key that begins the sort's keys (BANDS), and no search."""
    if query.search_text or len(query.filters) != 1:
        return False
    only = query.filters[0]
    return only.op == "startswith" and only.field in BANDS.get(query.sort_column, set())


def holds(
    connection: sqlite3.Connection,
    facts: dict[Any, Any],
    organization_id: str,
    field: str,
    band: str,
    value: str,
) -> bool:
    """Whether every `field` key of the organization beginning with `value` has its `band` key (the sort's field)
    beginning with it too (any status), with LEAST to MOST of them. `facts`: the snapshot's; the answer is kept
    there until the next commit."""
    kept = ("band", organization_id, field, band, value)
    if kept not in facts:
        facts[kept] = _counted(connection, organization_id, field, band, value)
    held: bool = facts[kept]
    return held


def _counted(connection: sqlite3.Connection, organization_id: str, field: str, band: str, value: str) -> bool:
    bounds = [value, past(value)]
    sql = walk_plan.count_sql(field, "startswith")
    (counted,) = connection.execute(sql, [int(organization_id), *bounds, MOST + 1]).fetchone()
    if not LEAST <= counted <= MOST:
        return False
    other = band if field == "email" else field
    sql = _ALONG_EMAILS.format(key=f"{other}_key")
    (emails, both) = connection.execute(sql, [*bounds, int(organization_id), *bounds]).fetchone()
    # The matches of every status: a name's or a first name's count reads its own index, but an email's the status
    # indexes (walk_plan.BY_STATUS), so an email prefix's are the entries along it.
    matches = emails if field == "email" else counted
    return bool(both == matches)
