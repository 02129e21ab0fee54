"""A real `zcontacts serve` process on a free port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def zcontacts(*args: str, database_url: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "zcontacts", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


@dataclass
class Server:
    """One server process; `banner` is what it printed before listening."""

    database_url: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    banner: str = ""
    # Extra ZCONTACTS_* variables for the process.
    env: dict[str, str] = field(default_factory=dict)
    # Everything the process printed after its banner (its logs), for tests that read them.
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> Server:
        """Start and wait until it answers."""
        # The rate limit is off unless a test sets it: end-to-end tests make many requests per organization.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ZCONTACTS_RATE_LIMIT_PER_MINUTE": "0", **self.env}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zcontacts",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
            env=env,
        )
        deadline = time.monotonic() + 30
        lines = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("server exited:\n" + "".join(lines))
            lines.append(line)
            if "Application startup complete" in line:
                break
        self.banner = "".join(lines)
        # Keep reading the log so a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self.process.stdout, self.output), daemon=True).start()
        _wait_for(f"{self.url}/docs/openapi.json")
        return self

    @staticmethod
    def _drain(stream: IO[str], output: list[str]) -> None:
        try:
            for line in stream:
                if len(output) < 100_000:
                    output.append(line)
        except ValueError:  # closed by stop()
            pass

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGKILL simulates a crash)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        if self.process and self.process.stdout:
            with contextlib.suppress(ValueError):
                self.process.stdout.close()

    def credentials(self) -> tuple[str, str]:
        """Organization id and token printed by the first start."""
        org = re.search(r"organization id:\s+(\d+)", self.banner)
        token = re.search(r"^\s+token:\s+(\S+)", self.banner, re.MULTILINE)
        assert org, self.banner
        assert token, self.banner
        return org.group(1), token.group(1)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def headers(organization_id: str, token: str) -> dict[str, str]:
    """Zoho's two headers."""
    return {"Authorization": f"Zoho-oauthtoken {token}", "X-com-zoho-expense-organizationid": organization_id}
