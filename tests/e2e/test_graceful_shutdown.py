"""A real server stopped with SIGTERM finishes the request in flight, answers it, and exits 0; its logs are
JSON lines with request ids, at the level `--log-level` sets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import free_port, headers

pytestmark = pytest.mark.e2e


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`zcontacts serve` with its output in a file; waits until it answers."""
    port = free_port()
    log = tmp_path / "server.log"
    database_url = f"sqlite:///{tmp_path / 'z.db'}"
    command = [
        sys.executable,
        "-m",
        "zcontacts",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ZCONTACTS_RATE_LIMIT_PER_MINUTE": "0"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, *extra],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url, log
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    process.wait()
    raise RuntimeError("server did not start:\n" + log.read_text())


def credentials(log: Path) -> tuple[str, str]:
    """Organization id and token from the first start's banner."""
    text = log.read_text()
    org = re.search(r"organization id:\s+(\d+)", text)
    token = re.search(r"^\s+token:\s+(\S+)", text, re.MULTILINE)
    assert org, text
    assert token, text
    return org.group(1), token.group(1)


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of the server's output."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Kills any server a failed test left running."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    tmp_path: Path, stopper: list[subprocess.Popen[bytes]]
) -> None:
    process, url, log = start(tmp_path, "--log-level", "info")
    stopper.append(process)
    organization_id, token = credentials(log)
    body_started = threading.Event()
    result: dict[str, Any] = {}

    def slow_body() -> Iterator[bytes]:
        yield b'{"contact_name": "Slow Customer", "notes": "'
        body_started.set()
        for _ in range(8):  # the rest of the body trickles in after SIGTERM
            time.sleep(0.25)
            yield b"x" * 100
        yield b'"}'

    def send() -> None:
        try:
            with httpx.Client(timeout=60) as client:
                result["response"] = client.post(
                    f"{url}/expense/v1/contacts",
                    content=slow_body(),
                    headers={
                        **headers(organization_id, token),
                        "content-type": "application/json",
                        "x-request-id": "slow-1",
                    },
                )
        except httpx.HTTPError as exc:  # reported by the assertions below
            result["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    assert body_started.wait(10)
    time.sleep(0.3)  # the server has the request's head
    process.send_signal(signal.SIGTERM)
    sender.join(30)
    assert "error" not in result, result
    response = result["response"]
    assert response.status_code == 201, response.text
    assert response.json()["contact"]["notes"] == "x" * 800
    assert response.headers["x-request-id"] == "slow-1"
    assert process.wait(timeout=30) == 0

    lines = json_lines(log)
    access = [line for line in lines if line.get("logger") == "zcontacts.access"]
    slow = [line for line in access if line["request_id"] == "slow-1"]
    assert len(slow) == 1
    assert slow[0]["status"] == 201
    assert slow[0]["route"] == "/expense/v1/contacts"
    assert slow[0]["method"] == "POST"
    assert slow[0]["organization_id"] == organization_id
    assert token not in json.dumps(lines)


def test_log_level_warning_silences_the_access_log(
    tmp_path: Path, stopper: list[subprocess.Popen[bytes]]
) -> None:
    process, url, log = start(tmp_path, "--log-level", "warning")
    stopper.append(process)
    organization_id, token = credentials(log)
    assert httpx.get(f"{url}/expense/v1/contacts", headers=headers(organization_id, token)).status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not [line for line in json_lines(log) if line.get("logger") == "zcontacts.access"]
    assert "GET /expense/v1/contacts" not in log.read_text()  # nor uvicorn's own access line
