"""The benchmark's targets as processes on loopback ports: zcontacts (`zcontacts serve`), the limit
(bench/limit_app.py under the same HTTP server), json-server and Prism (npm, from bench/.node). Each start is
timed to its first good answer (cold start) and each process's resident memory is sampled while it is loaded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from zcontacts.cli import SERVE_HTTP, event_loop_for

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "bench" / ".node" / "node_modules" / ".bin"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB (0 when it is gone)."""
    total = 0
    for each in (pid, *_children(pid)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process and its children have used so far (0 when it is gone)."""
    ticks = 0
    for each in (pid, *_children(pid)):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids = (task / "children").read_text().split()
                for kid in kids:
                    found.append(int(kid))
                    found.extend(_children(int(kid)))
    return found


@dataclass
class Target:
    """One server process under test."""

    name: str
    dialect: str
    command: list[str]
    ready_path: str  # a GET that answers 2xx once the server can serve the workloads
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    port: int = field(default_factory=free_port)
    note: str = ""
    process: subprocess.Popen[bytes] | None = None
    cold_start_s: float = 0.0
    peak_rss_mb: float = 0.0
    _sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None
    _log: object | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> float:
        """Start the process and time it to its first 2xx answer on `ready_path`; returns that time."""
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self._log = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + timeout
        with httpx.Client(timeout=2) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start:\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(self.url + self.ready_path, headers=self.headers).is_success:
                        self.cold_start_s = time.perf_counter() - started
                        return self.cold_start_s
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        """What the process printed so far (the tail)."""
        if self._log is None:
            return ""
        self._log.seek(0)  # type: ignore[attr-defined]
        data: bytes = self._log.read()  # type: ignore[attr-defined]
        return data.decode(errors="replace")[-4000:]

    def sample_memory(self, on: bool) -> None:
        """Start or stop sampling resident memory (every 0.2 s) while a workload runs."""
        if on and self._sampler is None and self.process is not None:
            self._sampling.set()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        elif not on and self._sampler is not None:
            self._sampling.clear()
            self._sampler.join()
            self._sampler = None

    def _sample(self) -> None:
        assert self.process is not None
        while self._sampling.is_set():
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(self.process.pid))
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s) and everything it started."""
        self.sample_memory(False)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def zcontacts(
    database_url: str,
    ready_path: str,
    headers: dict[str, str],
    *,
    workers: int = 1,
    server: str = "uvicorn",
    loop: str | None = None,
    http: str | None = None,
) -> Target:
    """`zcontacts serve`, exactly as users start it (request logging off, as for every target); with
    server="granian", the same app factory under granian, its settings from ZCONTACTS_* as serve passes them;
    with `loop` (uvicorn's --loop: uvloop, asyncio or an import string) or `http` (uvicorn's --http: httptools,
    h11 or zttp), the factory under uvicorn with serve's settings but that event loop or HTTP implementation
    (bench.served --loop / --http, to compare them)."""
    settings = {"ZCONTACTS_DATABASE_URL": database_url, "ZCONTACTS_LOG_LEVEL": "warning"}
    if server == "granian":
        command = _granian("zcontacts.app:create_app_from_env", workers)
    elif loop is not None or http is not None:
        command = _uvicorn(
            "zcontacts.app:create_app_from_env", workers, loop or event_loop_for(workers), http
        )
    else:
        command = [sys.executable, "-m", "zcontacts", "serve", "--port", "{port}", "--database-url", database_url,
                   "--log-level", "warning", "--workers", str(workers)]  # fmt: skip
        settings = {}
    return Target(
        name="zcontacts",
        dialect="zoho",
        command=command,
        ready_path=ready_path,
        headers=headers,
        # Zoho's 100 requests a minute per organization would answer nearly every benchmark request with 429.
        env={"ZCONTACTS_RATE_LIMIT_PER_MINUTE": "0", **settings},
    )


# The two limits: the raw ASGI app and the same app under bare Starlette, by target name.
LIMIT_APPS = {"limit": "bench.limit_app:create_app", "starlette": "bench.limit_starlette:create_app"}


def limit(
    database_path: Path,
    ready_path: str,
    headers: dict[str, str],
    *,
    workers: int = 1,
    server: str = "uvicorn",
    name: str = "limit",
    loop: str | None = None,
    http: str | None = None,
) -> Target:
    """A limit (`LIMIT_APPS`), under the HTTP server zcontacts runs under in the same run, with the settings
    `zcontacts serve` gives uvicorn: by default the event loop it picks for the same number of workers and
    its HTTP protocol (httptools with a bounded request head)."""
    factory = LIMIT_APPS[name]
    if server == "granian":
        command = _granian(factory, workers)
    else:
        command = _uvicorn(factory, workers, loop or event_loop_for(workers), http)
    return Target(
        name=name,
        dialect="zoho",
        command=command,
        ready_path=ready_path,
        headers=headers,
        env={"BENCH_DATABASE": str(database_path)},
    )


def _uvicorn(factory: str, workers: int, loop: str, http: str | None = None) -> list[str]:
    """uvicorn serving an ASGI app factory on loopback with the settings `zcontacts serve` passes it (its
    HTTP protocol unless `http` names another implementation, no WebSockets, no proxy-headers middleware, no server header,
    no access log) and the given event loop."""
    return [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", "{port}",
            "--loop", loop, "--http", http or SERVE_HTTP, "--ws", "none", "--no-proxy-headers", "--no-server-header",
            "--no-access-log", "--log-level", "warning", "--workers", str(workers)]  # fmt: skip


def _granian(factory: str, workers: int) -> list[str]:
    """granian serving an ASGI app factory on loopback (uvloop, no WebSockets, no access log)."""
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}",
            "--loop", "uvloop", "--factory", "--log-level", "warning", "--no-ws", "--workers", str(workers),
            factory]  # fmt: skip


def json_server(db_json: Path, ready_path: str, note: str) -> Target:
    """json-server 0.17 holding db.json (`contacts`, id property contact_id), request logging off."""
    return Target(
        name="json-server",
        dialect="json-server",
        command=[
            str(NODE_BIN / "json-server"),
            "--port",
            "{port}",
            "--host",
            "127.0.0.1",
            "--id",
            "contact_id",
            "--quiet",
            str(db_json),
        ],
        ready_path=ready_path,
        cwd=db_json.parent,
        note=note,
    )


def prism(openapi_json: Path, ready_path: str, headers: dict[str, str]) -> Target:
    """Prism mocking zcontacts' own OpenAPI document (static examples, request logging off)."""
    return Target(
        name="prism",
        dialect="zoho",
        command=[
            str(NODE_BIN / "prism"),
            "mock",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--verboseLevel",
            "error",
            "--cors",
            "false",
            str(openapi_json),
        ],
        ready_path=ready_path,
        headers=headers,
        cwd=openapi_json.parent,
    )
