"""The prefix plan: a substring filter whose every match begins with the term, read as the prefix filter it is.

People look for the start of a name, an email or a company: `contact_name_contains=ivan` over 1,000,000 customers
holds 24,947 rows, every one an "Ivan …", and `email_contains=ivan` the same rows' "ivan.…" addresses. In another
order than their own key's they sit together (Ivans' emails 40 % of the way along email order, their names along
name order), so a walk of the listing's index meets them late and gives way to the trigram plan, which reads and
sorts every one of them: 110-160 ms. The same listing with `…_startswith=ivan` is read from the filter's own index
(storage/walk_plan.py sorts its matches on index entries, contacts._rows_last_sql), tens of ms.

The two listings are the same rows when the rows that may hold the term are no more than the organization's keys in
[term, past(term)), each of which begins with the term and so holds it: then they are exactly those rows. The rows
that may hold it are the trigram index's rows with the term's trigrams in the key, but for rows queued for the index
(storage/search_index.py), whose indexed keys may be old: those are tested on their keys as they are. Both sides are
counted in the snapshot the page is read in, and the answer kept in its facts until the next commit."""

from __future__ import annotations

import sqlite3
from typing import Any

from zcontacts.storage import walk_plan
from zcontacts.storage.run_plan import MOST, past

# Fewer candidates than this: the trigram plan reads them within a few ms (3.5 µs each), no count is worth it.
LEAST = 2_000

# The candidates, in two parts that cannot overlap: the index's rows holding the term's trigrams in the key but
# none queued for it (for those the index holds their keys as they are), and the organization's queued rows whose
# key holds the term now (the queue, migration 0007, is a few dozen rows; a deleted row is in no part).
_INDEXED = (
    "SELECT count(*) FROM (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ? "
    "AND rowid NOT IN (SELECT contact_id FROM contacts_fts_pending) LIMIT ?)"
)
_QUEUED = (
    "SELECT count(*) FROM contacts WHERE contact_id IN (SELECT contact_id FROM contacts_fts_pending) "
    "AND organization_id = ? AND instr({key}, ?) > 0"
)


def prefix_rows(
    connection: sqlite3.Connection,
    facts: dict[Any, Any],
    organization_id: str,
    field: str,
    term: str,
    match: str,
    estimate: float | None = None,
) -> int | None:
    """How many of the organization's `field` keys begin with `term` (any status), when they are every row whose
    key holds it (`match`: the FTS5 query of the term's candidates in that key); None when some candidate lies
    outside them, or they are too many (MOST) or too few (LEAST) for the prefix plan. `estimate`: the candidates
    as the substring plans estimated them, if known: with far more than the prefix's keys, the candidates are not
    counted. `facts`: the snapshot's; the answer is kept there until the next commit."""
    if estimate is not None and estimate > 2 * MOST:
        return None  # `a`, `com`: no prefix holds most of their rows
    kept = ("prefix rows", organization_id, field, term)
    if kept not in facts:
        facts[kept] = _counted(connection, organization_id, field, term, match, estimate)
    found: int | None = facts[kept]
    return found


def _counted(
    connection: sqlite3.Connection,
    organization_id: str,
    field: str,
    term: str,
    match: str,
    estimate: float | None,
) -> int | None:
    # Counted no further than the prefix plan can take (MOST), nor far past the candidates estimated: the run holds
    # no more rows than the candidates, and an estimate that is off only costs the plan.
    most = MOST if estimate is None else min(MOST, int(2 * estimate))
    sql = walk_plan.count_sql(field, "startswith")
    (run,) = connection.execute(sql, [int(organization_id), term, past(term), most + 1]).fetchone()
    if not LEAST <= run <= most or (estimate is not None and run < estimate / 2):
        return None
    # Every row of the run holds the term, so it is in one part: one more than the run means a row outside it.
    (queued,) = connection.execute(
        _QUEUED.format(key=f"{field}_key"), [int(organization_id), term]
    ).fetchone()
    if queued > run:
        return None
    (indexed,) = connection.execute(_INDEXED, [match, run - queued + 1]).fetchone()
    return int(run) if indexed + queued == run else None
