"""Which way SQLite reads a search page: from the trigram index's candidates, or along the listing's order.

A search of 3 or more characters had one plan: take every row whose keys hold the term's trigrams (FTS5), confirm
each on its own key, sort them, keep a page. That costs ~3.5 µs a candidate over 1,000,000 customers (a random
row read each), so a rare term takes a fraction of a millisecond and a common one does not: `search_text=com`
(every gmail and outlook address, 399,700 rows) took 0.5-1.3 s, `labs` (84,118) 190-270 ms. A common term is
better read the other way ("scan"): walk the listing in its order (an index) and keep the rows whose key holds
it, stopping at the page's end: at 40 % of the rows a page is ~500 rows walked, 1-2 ms. Between the two,
"member" walks the listing's index too but first gathers the candidates into a set, so most rows are ruled out on
their index entry (the id) without reading the row.

Each costs, in µs, measured over 1,000,000 customers (docs/PERFORMANCE.md):
  trigram:  3.5 per candidate (its row read, its key confirmed, then sorted)
  scan:     3.4 per row walked (every row read for its key); 0.4 when the listing's index holds the key
  member:   0.48 per row walked + 0.17 per candidate (the set)
where rows walked ≈ (offset + page + 1) ÷ the term's share of the rows, and candidates are counted only as far as
PROBES of them hold the term in the listing's own key. The share comes from the candidates in id
order, read up to SAMPLE of them (0.1-0.3 ms for a broad term). Fewer than SAMPLE: their number is known, and if
the trigram plan wins they are handed to the page query (LISTED), so the index is not searched twice. SAMPLE or
more: the SAMPLE-th candidate's id says how far into the id range SAMPLE candidates reach, and ids grow with
creation, so a term spread over the customers reaches proportionally far.

The walks assume the term's rows are spread evenly along the listing's order, which a term can break (`ivan`:
every Ivan sits together in name order, 40 % of the way in), so a walk runs under a deadline (Reader.within) and
past it the trigram plan reads the page, and the listing's next pages with no walk first (Reader.uneven). A term
that begins the keys it sits together in is read as that run of the index instead (storage/run_plan.py). Every
plan returns the same rows in the same order; an estimate that is off costs time, never an answer
(tests/storage/test_substring_plans.py)."""

from __future__ import annotations

import json
import sqlite3
from typing import NamedTuple

from zcontacts.storage.search_index import indexed_rows

TRIGRAM = "contains"  # the listing shape's name for the trigram plan (storage/contacts.py)
LISTED = "listed"  # the trigram plan with its candidates already in hand (fewer than SAMPLE)
SCAN = "scan"
MEMBER = "member"

SAMPLE = 4000
TRIGRAM_PER_CANDIDATE = 3.5
SCAN_PER_ROW = 3.4
# A scan whose listing's index holds the key (a name filter in name order; a search in name order since
# migration 0012): 0.33-0.41 µs a row entry.
SCAN_COVERED_PER_ROW = 0.4
# The same, when that index is a narrow one (all but the name order's since migrations 0014 and 0015: keys, no list row):
# 0.13-0.15 µs an entry.
SCAN_NARROW_PER_ROW = 0.15
MEMBER_PER_ROW = 0.48
MEMBER_PER_CANDIDATE = 0.17

# Rows whose indexed keys hold every trigram of an FTS5 query (storage/contacts.py, _trigram_query), and the rows
# queued for indexing (migration 0007): a superset of the rows that match, which the row's own key then confirms.
CANDIDATES = (
    "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH {trigrams} "
    "UNION ALL SELECT contact_id FROM contacts_fts_pending WHERE command IS NULL"
)
# The candidates as the trigram plan takes them, in id order, up to SAMPLE of them.
_SAMPLE_SQL = "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ? ORDER BY rowid LIMIT ?"
_ID_RANGE = "SELECT (SELECT min(contact_id) FROM contacts), (SELECT max(contact_id) FROM contacts)"
# How many of some candidates hold the term in the listing's key (each a row read by id: ~3 µs).
PROBES = 64
_HOLDING = "SELECT count(*) FROM contacts WHERE contact_id IN (SELECT value FROM json_each(?)) AND instr({key}, ?) > 0"


class Plan(NamedTuple):
    """How to read the page. LISTED: `listed` holds the candidates (a JSON array of ids) the page query reads.
    SCAN and MEMBER: `budget` is how long the walk may take before the page is read the trigram way instead.
    `match`: the FTS5 query that finds the candidates (the term's own trigrams unless given)."""

    kind: str
    listed: str | None = None
    budget: float | None = None
    match: str | None = None
    # What the choice saw (storage/run_plan.py weighs the prefix run against it): the term's candidates as the
    # trigram index counts them (estimated past SAMPLE), and the chosen plan's estimated cost in µs.
    candidates: float | None = None
    cost: float | None = None


def plan(
    connection: sqlite3.Connection,
    trigram_query: str,
    wanted: int,
    key: str,
    term: str,
    *,
    covered: bool,
    narrow: bool = False,
) -> Plan:
    """The cheapest plan for a page whose last row is the `wanted`-th of the listing (offset + page + 1), for a
    listing that keeps the rows whose `key` column holds `term` (`trigram_query` is the term's). `covered`: the
    listing's index holds `key`, so a scan tests each row on its index entry instead of reading the row; `narrow`: that
    index holds no list rows (see SCAN_NARROW_PER_ROW)."""
    walk = (SCAN_NARROW_PER_ROW if narrow else SCAN_COVERED_PER_ROW) if covered else SCAN_PER_ROW
    return _plan(connection, trigram_query, wanted, key, term, walk)._replace(match=trigram_query)


def _plan(
    connection: sqlite3.Connection, trigram_query: str, wanted: int, key: str, term: str, walk: float
) -> Plan:
    if not trigram_query:
        return trigram_plan(trigram_query)
    rows = indexed_rows(connection)
    sample = [rowid for (rowid,) in connection.execute(_SAMPLE_SQL, (trigram_query, SAMPLE))]
    if len(sample) < SAMPLE:
        chosen = choose(Estimate(float(len(sample)), rows), wanted, walk=walk)
        if chosen.kind == TRIGRAM:
            # Every candidate is known: the page query need not look them up again.
            chosen = chosen._replace(kind=LISTED, listed=json.dumps(sample, separators=(",", ":")))
        return chosen._replace(candidates=float(len(sample)))
    low, high = connection.execute(_ID_RANGE).fetchone()
    if low is None or high is None or high <= low:
        return choose(Estimate(float(rows), rows), wanted, walk=walk)._replace(candidates=float(rows))
    # Ids grow with creation: SAMPLE candidates spread over the customers reach this share of the id range.
    reached = max(1, sample[-1] - int(low) + 1) / (int(high) - int(low) + 1)
    candidates = min(float(rows), SAMPLE / min(1.0, reached))
    chosen = choose(Estimate(candidates * _holding(connection, sample, key, term), rows), wanted, walk=walk)
    return chosen._replace(candidates=candidates)


def trigram_plan(match: str) -> Plan:
    """The trigram plan for the candidates `match` finds; "" (a short term no trigram holds) finds none, so only
    rows still queued for the index may hold the term (an empty FTS5 query would be a syntax error)."""
    return Plan(TRIGRAM, match=match) if match else Plan(LISTED, listed="[]", match=match)


# A term of 1 or 2 characters has no trigram of its own. But the index takes every key with two separators at
# its end (migrations 0010 and 0011), so every real character of a key starts a trigram, and the rows whose key
# holds the term are among the rows holding, in that key's column, a trigram that starts with it. FTS5's
# vocabulary lists the trigrams in order, so those are one run of it, found a look-up each (a seek of the
# `instance` vocabulary stops at the term's first row, ~15 µs on a merged index; the `row` type counts all its
# rows first, ~20 ms for a trigram in every row). The run is of every column's trigrams; the caller asks for
# them in its key's column alone (storage/contacts.py, term_match).
_VOCABULARY = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.contacts_fts_instances "
    "USING fts5vocab(main, contacts_fts, 'instance')"
)
_FIRST_FROM = "SELECT term FROM temp.contacts_fts_instances WHERE term >= ? LIMIT 1"
# Past this many trigrams (a common character: `a` starts 432 of them over 1,000,000 customers, ~15 ms of
# look-ups), a short term is read by a walk of the listing, as before, which finds its page in a few hundred rows.
MAX_LOOKUPS = 128


def short_query(connection: sqlite3.Connection, term: str) -> str | None:
    """An FTS5 query for every row whose keys may hold `term` (1 or 2 characters): the trigrams that start with
    it, or "" when none does; None when there are more than MAX_LOOKUPS of them."""
    connection.execute(_VOCABULARY)
    after = next_text(term)
    trigrams: list[str] = []
    found = connection.execute(_FIRST_FROM, (term,)).fetchone()
    while found is not None and (after is None or found[0] < after):
        if len(trigrams) == MAX_LOOKUPS:
            return None
        trigrams.append(str(found[0]))
        following = next_text(trigrams[-1])
        found = None if following is None else connection.execute(_FIRST_FROM, (following,)).fetchone()
    return " OR ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


def next_text(text: str) -> str | None:
    """The least text past every text that starts with `text` (None: there is none); surrogates are skipped,
    as UTF-8, which the vocabulary is ordered by, cannot hold them."""
    while text:
        code = ord(text[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return text[:-1] + chr(code)
        text = text[:-1]  # its last character is the greatest: the one before it moves on
    return None


def _holding(connection: sqlite3.Connection, sample: list[int], key: str, term: str) -> float:
    """The share of candidates whose `key` holds the term, from PROBES of them: a row holding the term's
    trigrams in that key (migration 0011) may hold them apart, or hold an entry the index still keeps for a
    row since changed."""
    probes = json.dumps(sample[:: max(1, len(sample) // PROBES)][:PROBES], separators=(",", ":"))
    (held,) = connection.execute(_HOLDING.format(key=key), (probes, term)).fetchone()
    return (int(held) + 0.5) / (min(PROBES, len(sample)) + 1)  # never 0: a sample can miss a few true rows


class Estimate(NamedTuple):
    """What a plan's cost depends on: the term's candidates (estimated past SAMPLE) and the rows indexed."""

    candidates: float
    rows: int


# A walk's estimate assumes the term's rows are spread evenly along the listing's order; a term that names where
# the order is (`ivan`: the Ivans are together in name order, ~40 % of the way) makes it walk far longer. So a walk
# gets three times its estimate, then the trigram plan reads the page. Never less than half the trigram plan's
# estimate (WALK_SHARE): a walk slowed by a cold cache or a slower machine than the costs were measured on must
# not hand a term to a plan several times slower (the first `com` served after a start took 0.8 s with three times
# its estimate, 5 ms; `last_name_contains=q`'s walk took 24.7 ms on session 31's machine, a quarter of the trigram
# plan's estimate was 25.4, and past it the trigram plan took 138 ms more); an uneven term costs at most about 1.5
# times the trigram plan alone, or its estimate's three times on top of it.
WALK_SHARE = 0.5
MIN_BUDGET = 0.002


def choose(found: Estimate, wanted: int, *, covered: bool = False, walk: float | None = None) -> Plan:
    """The cheapest of the trigram, scan and member plans for a page whose last row is the `wanted`-th (a scan
    of a `covered` listing tests index entries, not rows; `walk`: a scan's cost per row, given)."""
    if walk is None:
        walk = SCAN_COVERED_PER_ROW if covered else SCAN_PER_ROW
    candidates = max(found.candidates, 0.0)
    if candidates < 1 or found.rows < 1:
        return Plan(TRIGRAM, cost=0.0)  # nothing to walk for: the index answers at once
    share = min(1.0, candidates / found.rows)
    walked = min(float(found.rows), wanted / share)
    trigram = TRIGRAM_PER_CANDIDATE * candidates
    costs = {
        TRIGRAM: trigram,
        SCAN: walk * walked,
        MEMBER: MEMBER_PER_ROW * walked + MEMBER_PER_CANDIDATE * candidates,
    }
    kind = min(costs, key=costs.__getitem__)
    if kind == TRIGRAM:
        return Plan(TRIGRAM, cost=trigram)
    budget = min(max(3 * costs[kind], trigram * WALK_SHARE), trigram) / 1e6
    return Plan(kind, budget=max(MIN_BUDGET, budget), cost=costs[kind])
