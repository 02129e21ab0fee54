"""Crash safety: a real server is SIGKILLed in the middle of concurrent creates and updates (nested persons and
addresses included) and restarted on the same database. Every write that got a success reply must be there,
complete and exactly as acknowledged; a write in flight at the kill may be there or not, but whole; and the
consistency checker finds nothing half-written."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import Server, headers, zcontacts
from zcontacts.storage.consistency import check_contacts
from zcontacts.storage.database import Database

pytestmark = pytest.mark.e2e
CONTACTS = "/expense/v1/contacts"
WRITERS = 6
LOAD_SECONDS = 2.0


@dataclass
class Ledger:
    """What one writer was told: the last acknowledged state of each of its contacts, and the write in
    flight (if any) when the server died."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_notes: dict[str, str] = field(default_factory=dict)  # contact id → notes of the unanswered update
    pending_create: str | None = None  # contact_name of the unanswered create
    writes: int = 0


def _create_body(name: str) -> dict[str, Any]:
    return {
        "contact_name": name,
        "company_name": f"{name} Ltd",
        "notes": f"{name} v0",
        "billing_address": {"address": "1 Main St", "city": "Pune", "zip": "411001", "country": "India"},
        "shipping_address": {"city": "Goa", "zip": "403001"},
        "contact_persons": [
            {"first_name": "Ann", "last_name": name, "email": "ann@example.com", "is_primary_contact": True},
            {"first_name": "Bo", "last_name": name, "phone": "+91 1234"},
        ],
        "custom_fields": [{"customfield_id": "7", "value": name}],
    }


def _update_body(contact: dict[str, Any], notes: str, step: int) -> dict[str, Any]:
    persons = contact["contact_persons"]
    body: dict[str, Any] = {
        "notes": notes,
        "billing_address": {"zip": f"Z{step}", "city": f"City {step}"},
        "contact_persons": [{"contact_person_id": persons[-1]["contact_person_id"], "last_name": notes}],
    }
    if len(persons) < 6:
        body["contact_persons"].append({"first_name": f"New {step}", "email": f"n{step}@example.com"})
    if step % 3 == 0:
        body["contact_persons"].append(
            {"contact_person_id": persons[0]["contact_person_id"], "is_primary_contact": True}
        )
    return body


def _writer(base: str, auth: dict[str, str], number: int, ledger: Ledger, stop: threading.Event) -> None:
    step = 0
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        while not stop.is_set():
            step += 1
            try:
                if step % 3 == 1 or not ledger.acked:
                    name = f"W{number} C{step}"
                    ledger.pending_create = name
                    response = client.post(CONTACTS, json=_create_body(name))
                    ledger.pending_create = None
                else:
                    contact_id = sorted(ledger.acked)[step % len(ledger.acked)]
                    notes = f"W{number} U{step}"
                    ledger.pending_notes[contact_id] = notes
                    body = _update_body(ledger.acked[contact_id], notes, step)
                    response = client.put(f"{CONTACTS}/{contact_id}", json=body)
                    ledger.pending_notes.pop(contact_id)
            except httpx.TransportError:
                return  # the server died with this write unanswered: it stays pending
            assert response.status_code in (200, 201), response.text
            contact = response.json()["contact"]
            ledger.acked[contact["contact_id"]] = contact
            ledger.writes += 1


def test_acknowledged_writes_survive_sigkill_mid_load(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url=database_url, workdir=tmp_path).start()
    try:
        auth = headers(*server.credentials())
        ledgers = [Ledger() for _ in range(WRITERS)]
        stop = threading.Event()
        threads = [
            threading.Thread(target=_writer, args=(server.url, auth, n, ledgers[n], stop))
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(LOAD_SECONDS)
        server.stop(signal.SIGKILL)  # mid-load: writers have requests in flight
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert sum(ledger.writes for ledger in ledgers) >= 10, "too little load to prove anything"

        server.start()
        with httpx.Client(base_url=server.url, headers=auth, timeout=10) as client:
            stored = _all_contacts(client)
            for ledger in ledgers:
                for contact_id, acked in ledger.acked.items():
                    assert contact_id in stored, f"acknowledged contact {contact_id} is lost"
                    now = client.get(f"{CONTACTS}/{contact_id}").json()["contact"]
                    pending = ledger.pending_notes.get(contact_id)
                    if pending is not None and now["notes"] == pending:
                        continue  # the write in flight at the kill was committed whole (checked below)
                    assert now == acked, f"contact {contact_id} differs from its acknowledged state"
            known = {cid for ledger in ledgers for cid in ledger.acked}
            in_flight = {ledger.pending_create for ledger in ledgers if ledger.pending_create}
            for contact_id, name in stored.items():
                assert contact_id in known or name in in_flight, f"{name} was never written by anyone"
    finally:
        server.stop()
    database = Database.from_url(database_url)
    try:
        assert database.run(check_contacts, write=False) == []
    finally:
        database.dispose()
    checked = zcontacts("db", "check", database_url=database_url)  # the operator's command agrees
    assert "every contact is consistent" in checked.stderr


def _all_contacts(client: httpx.Client) -> dict[str, str]:
    found: dict[str, str] = {}
    page = 1
    while True:
        body = client.get(CONTACTS, params={"page": page}).json()
        found.update({c["contact_id"]: c["contact_name"] for c in body["customers"]})
        if not body["page_context"]["has_more_page"]:
            return found
        page += 1
