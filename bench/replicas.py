"""Requests per second with 1 and with 2 zcontacts replicas on one PostgreSQL database, on this machine.

    .venv/bin/python bench/replicas.py [--seconds 8] [--connections 32] [--scenario get list create]

Creates a scratch database on the PostgreSQL server at ZCONTACTS_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), seeds one organization with --contacts customers, then for
each scenario and replica count starts that many `zcontacts serve` processes on loopback ports and drives them
for --seconds with wrk (split evenly over the replicas, as a load balancer would), or with an httpx load
generator when wrk is not installed. Prints a Markdown table; drops the scratch database at the end. The rate
limit is off in the servers (the point is throughput). Every run is bounded: servers are stopped and the
database dropped even when a step fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from zcontacts.cli import create_organization, create_token
from zcontacts.domain.contacts import Stamp, create_contact
from zcontacts.domain.schemas import ContactCreate
from zcontacts.domain.scopes import FULL_ACCESS
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage import migrate
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database

ADMIN_URL = os.environ.get("ZCONTACTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONTACTS = "/expense/v1/contacts"

WRK_SCRIPT = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  scenario = args[1]
  prefix = "bench-" .. args[2] .. "-" .. tid .. "-"
  ids = {}
  for id in string.gmatch(args[3] or "", "[^,]+") do ids[#ids + 1] = id end
  n = 0
  wrk.headers["Authorization"] = "Zoho-oauthtoken " .. args[4]
  wrk.headers["X-com-zoho-expense-organizationid"] = args[5]
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  if scenario == "get" then
    return wrk.format("GET", "/expense/v1/contacts/" .. ids[(n % #ids) + 1])
  elseif scenario == "list" then
    return wrk.format("GET", "/expense/v1/contacts?per_page=50&page=" .. ((n % 5) + 1))
  end
  return wrk.format("POST", "/expense/v1/contacts", nil, '{"contact_name":"' .. prefix .. n .. '"}')
end
"""


@dataclass
class Result:
    """One measurement."""

    scenario: str
    replicas: int
    requests_per_second: float
    errors: int
    p50_ms: float | None
    p99_ms: float | None


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh migrated database, dropped afterwards."""
    name = f"zcontacts_bench_{os.getpid()}"
    admin_url = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                make_url(ADMIN_URL)
                .set(drivername="postgresql+psycopg", database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, contacts: int) -> tuple[str, str, list[str]]:
    """An organization with a token and `contacts` customers; returns (organization id, token, contact ids)."""
    database = Database.from_url(url)
    migrate.upgrade(database.engine)
    organization = create_organization(database, "Bench", "USD", "UTC")
    token = create_token(database, organization.organization_id, [FULL_ACCESS])
    at = Stamp(at_ms=now_ms())

    def work(connection: Connection) -> list[str]:
        repo = ContactsRepo(connection)
        return [
            create_contact(
                repo, organization, ContactCreate(contact_name=f"Customer {i:05d}"), at
            ).contact.contact_id
            for i in range(contacts)
        ]

    ids = database.run(work, write=True)
    database.dispose()
    return organization.organization_id, token, ids


@contextlib.contextmanager
def servers(url: str, count: int, workdir: Path) -> Iterator[list[str]]:
    """`count` zcontacts processes on one database; yields their base URLs."""
    env = {**os.environ, "ZCONTACTS_RATE_LIMIT_PER_MINUTE": "0", "ZCONTACTS_LOG_LEVEL": "warning"}
    processes: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            command = [sys.executable, "-m", "zcontacts", "serve", "--port", str(port), "--database-url", url]
            processes.append(
                subprocess.Popen(
                    command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for base in bases:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base} never became ready")
                time.sleep(0.2)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _duration_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    bases: list[str], scenario: str, seconds: int, connections: int, auth: tuple[str, str, list[str]]
) -> tuple[float, int, float, float]:
    """Run one wrk per replica at once; sum their rates."""
    organization_id, token, ids = auth
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    # The same load generator either way: two wrk threads in all, the connections split over the replicas.
    threads, per_replica = max(1, 2 // len(bases)), max(1, connections // len(bases))
    wrk = ["wrk", f"-t{threads}", f"-c{per_replica}", f"-d{seconds}s", "--latency", "-s", script.name]
    script_args = [scenario, ",".join(ids[:500]), token, organization_id]
    runs = []
    for n, base in enumerate(bases):
        # Each wrk gets its own name prefix, so concurrent creates never collide on contact_name.
        tag = f"{os.getpid()}-{n}-{time.time_ns()}"
        command = [*wrk, base, "--", script_args[0], tag, *script_args[1:]]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=seconds + 60)[0] for run in runs]
    os.unlink(script.name)
    rate = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) for out in outputs)
    errors = sum(
        int(m.group(1)) for out in outputs if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out))
    )
    p50 = max(_duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1)) for out in outputs)
    p99 = max(_duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1)) for out in outputs)
    return rate, errors, p50, p99


async def _httpx_load(
    bases: list[str], scenario: str, seconds: int, connections: int, auth: tuple[str, str, list[str]]
) -> tuple[float, int]:
    organization_id, token, ids = auth
    headers = {
        "Authorization": f"Zoho-oauthtoken {token}",
        "X-com-zoho-expense-organizationid": organization_id,
    }
    done, errors = 0, 0
    stop = time.monotonic() + seconds
    tag = f"{os.getpid()}-{time.time_ns()}"

    async def worker(n: int) -> None:
        nonlocal done, errors
        base = bases[n % len(bases)]
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            i = 0
            while time.monotonic() < stop:
                i += 1
                if scenario == "get":
                    response = await client.get(f"{CONTACTS}/{ids[(n * 7919 + i) % len(ids)]}")
                elif scenario == "list":
                    response = await client.get(CONTACTS, params={"per_page": 50, "page": i % 5 + 1})
                else:
                    response = await client.post(CONTACTS, json={"contact_name": f"bench-{tag}-{n}-{i}"})
                done += 1
                errors += response.status_code >= 300

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    return done / (time.monotonic() - started), errors


def measure(
    url: str,
    scenario: str,
    replicas: int,
    args: argparse.Namespace,
    auth: tuple[str, str, list[str]],
    workdir: Path,
) -> Result:
    """Start `replicas` servers and drive them with the scenario."""
    with servers(url, replicas, workdir) as bases:
        if shutil.which("wrk"):
            rate, errors, p50, p99 = run_wrk(bases, scenario, args.seconds, args.connections, auth)
            return Result(scenario, replicas, rate, errors, p50, p99)
        rate, errors = asyncio.run(_httpx_load(bases, scenario, args.seconds, args.connections, auth))
        return Result(scenario, replicas, rate, errors, None, None)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8, help="load duration per measurement (max 60)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections in total")
    parser.add_argument("--contacts", type=int, default=2000, help="customers seeded before measuring")
    parser.add_argument(
        "--scenario", nargs="+", default=["get", "list", "create"], choices=["get", "list", "create"]
    )
    args = parser.parse_args()
    args.seconds = max(1, min(args.seconds, 60))
    tool = "wrk" if shutil.which("wrk") else "httpx (wrk not installed)"
    # Other work on the machine skews every figure: say how busy it was.
    load_before = os.getloadavg()[0]
    print(
        f"# zcontacts replicas on one PostgreSQL: {os.cpu_count()} CPUs, {args.connections} connections, "
        f"{args.seconds}s per run, load by {tool}\n"
    )
    results: list[Result] = []
    with scratch_database() as url, tempfile.TemporaryDirectory() as workdir:
        auth = seed(url, args.contacts)
        for scenario in args.scenario:
            for replicas in (1, 2):
                results.append(measure(url, scenario, replicas, args, auth, Path(workdir)))
                print(
                    f"  {scenario:6} {replicas} replica(s): {results[-1].requests_per_second:8.0f} req/s",
                    file=sys.stderr,
                )
    print(f"load average (1 min) before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}\n")
    print("| scenario | replicas | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    for r in results:
        p50 = f"{r.p50_ms:.1f}" if r.p50_ms is not None else "–"
        p99 = f"{r.p99_ms:.1f}" if r.p99_ms is not None else "–"
        print(f"| {r.scenario} | {r.replicas} | {r.requests_per_second:.0f} | {p50} | {p99} | {r.errors} |")
    by = {(r.scenario, r.replicas): r.requests_per_second for r in results}
    for scenario in args.scenario:
        print(f"\n{scenario}: 2 replicas = {by[scenario, 2] / by[scenario, 1]:.2f}x one replica", end="")
    print()


if __name__ == "__main__":
    main()
