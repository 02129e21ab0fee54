"""Measure `zcontacts import` and `zcontacts export` on a generated file: wall time and the command's peak RSS.

    .venv/bin/python -m bench.transfer --rows 1000000

The CSV is made from the benchmark's deterministic customers (bench/data.py customer_body) and cached in
bench/.cache; the import runs as a separate `zcontacts` process into a fresh SQLite database, so its peak RSS
(ru_maxrss of the child) is the command's alone. CPU time is printed beside wall time: on a shared machine the
two differ by the time spent waiting for a core."""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import CACHE, customer_body
from zcontacts.transfer.formats import CSV_COLUMNS


def make_csv(rows: int) -> Path:
    """A CSV of `rows` generated customers (primary person and billing address filled)."""
    path = CACHE / f"import-{rows}.csv"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for n in range(rows):
            body = customer_body(n)
            person = (body.contact_persons or [])[0]
            billing = body.billing_address
            cells = {
                "contact_name": body.contact_name, "company_name": body.company_name, "website": body.website,
                "status": "active", "notes": body.notes, "salutation": person.salutation,
                "first_name": person.first_name, "last_name": person.last_name, "email": person.email,
                "phone": person.phone,
            }  # fmt: skip
            if billing:
                for field in ("address", "city", "state", "zip", "country"):
                    cells[f"billing_{field}"] = getattr(billing, field)
            writer.writerow([cells.get(column, "") for column in CSV_COLUMNS])
    partial.rename(path)
    return path


def zcontacts(*args: str) -> str:
    """Run the CLI; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "zcontacts", *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-reimport", action="store_true", help="Do not time a second, unchanged import")
    parser.add_argument("--bulk", action="store_true", help="Import with --bulk (indexes rebuilt at the end)")
    args = parser.parse_args()
    started = time.monotonic()
    source = make_csv(args.rows)
    print(
        f"file: {source} ({source.stat().st_size / 1e6:.0f} MB, made in {time.monotonic() - started:.0f} s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/import.db"
        org = zcontacts("orgs", "create", "--name", "Import", "--database-url", url)
        steps = [
            (
                "import",
                ["import", str(source), "--org", org, "--database-url", url, *(["--bulk"] * args.bulk)],
            ),
            ("re-import (all unchanged)", ["import", str(source), "--org", org, "--database-url", url]),
            ("export csv", ["export", f"{tmp}/out.csv", "--org", org, "--database-url", url]),
        ]
        if args.skip_reimport:
            del steps[1]
        for label, command in steps:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
            started = time.monotonic()
            output = zcontacts(*command)
            elapsed = time.monotonic() - started
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
            rss = f"{peak / 1024:.0f} MB" if peak > before else f"<= {before / 1024:.0f} MB"
            print(
                f"{label}: {args.rows:,} rows in {elapsed:.1f} s ({args.rows / elapsed:,.0f}/s; CPU {cpu:.0f} s), "
                f"peak RSS {rss}: {output}"
            )


if __name__ == "__main__":
    main()
