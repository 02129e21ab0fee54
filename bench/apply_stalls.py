"""How long moving the trigram queue into the index takes, batch by batch, with FTS5's own merges against the
bounded merge after each batch (migration 0009, storage/search_index.py).

On copies of the 10,000-customer set (`--size`), in process, writes run in transactions of 64 (a group-commit batch, or
the 64 writes between two applies at one connection), each ending with `search_index.apply_pending`:

- `fts5`: FTS5's automatic merging on (`automerge` 4, its default, as before 0009) and no merge after the apply;
- `bounded`: automatic merging off and at most APPLY_MERGE_PAGES pages of merging after each apply (0009).

The writes are `delete` (8,000 customers deleted) or `rename` (20,480 updates of a search key). It prints, per
mode (interleaved, `--rounds` times), the apply's median, p90, p99 and longest time, their sum, the index's
segments after and a short search's time.

    .venv/bin/python -m bench.apply_stalls [delete|rename] [--rounds 2] [--size 10000]"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench import data
from zcontacts.storage import search_index

_TERMS = ("ivo", "foo", "778", "abc", "038", "de6")
_SEARCH = "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ? LIMIT 200"


def _run(source: Path, mode: str, kind: str, folder: Path) -> str:
    path = folder / f"{mode}.db"
    shutil.copyfile(source, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA temp_store=MEMORY")
    search_index.apply_step(db)
    merge = search_index._MERGE
    if mode == "fts5":
        db.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('automerge', 4)")
        search_index._MERGE = "SELECT ?"  # apply_pending without its merge, as before migration 0009
    ids = [
        row[0] for row in db.execute("SELECT contact_id FROM contacts ORDER BY contact_id DESC LIMIT 8000")
    ]
    if kind == "rename":
        ids = (ids * 3)[:20_480]
        write = "UPDATE contacts SET search_key = search_key || 'q' || (abs(random()) % 1000) WHERE contact_id = ?"
    else:
        write = "DELETE FROM contacts WHERE contact_id = ?"
    times: list[float] = []
    try:
        for start in range(0, len(ids), 64):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(write, [(contact_id,) for contact_id in ids[start : start + 64]])
            began = time.perf_counter()
            search_index.apply_pending(db)
            times.append((time.perf_counter() - began) * 1000)
            db.execute("COMMIT")
    finally:
        search_index._MERGE = merge
    began = time.perf_counter()
    for _ in range(50):
        for term in _TERMS:
            db.execute(_SEARCH, (f'"{term}"',)).fetchall()
    search_us = (time.perf_counter() - began) / (50 * len(_TERMS)) * 1e6
    segments = search_index.segments(db)
    db.close()
    times.sort()
    return (
        f"{mode:8} {len(times)} applies: median {statistics.median(times):6.2f}  p90 {times[int(0.9 * len(times))]:6.2f}"
        f"  p99 {times[int(0.99 * len(times))]:6.2f}  longest {times[-1]:6.2f} ms  (sum {sum(times):,.0f} ms);"
        f" {segments} segments after; a search {search_us:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.apply_stalls", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", nargs="?", choices=("delete", "rename"), default="delete")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=10_000, help="customers in the set (a cached dataset)")
    args = parser.parse_args()
    source = data.dataset(args.size).path
    with tempfile.TemporaryDirectory(prefix="zc-stalls-") as folder:
        for _ in range(args.rounds):
            for mode in ("fts5", "bounded"):
                print(_run(source, mode, args.kind, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
