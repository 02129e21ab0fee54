"""Installs what the benchmark drives: wrk (Debian package), the npm peers into bench/.node (never
globally) and, for `--server granian`, granian into the project's environment. A peer that cannot be
installed is reported and its target skipped; without wrk, or granian when asked for, the run stops."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

NODE_DIR = Path(__file__).resolve().parent / ".node"
NPM_TOOLS = {"json-server": "0.17.4", "@stoplight/prism-cli": "5.14.2"}
BINARIES = {"json-server": "json-server", "@stoplight/prism-cli": "prism"}
GRANIAN = "granian==2.8.7"  # the version docs/PERFORMANCE.md measured


def ensure_wrk(console: Console) -> str | None:
    """wrk on PATH, installed with apt-get when missing; returns why not, or None."""
    if shutil.which("wrk"):
        return None
    if not shutil.which("apt-get"):
        return "wrk is missing and apt-get is not available: install wrk by hand"
    console.print("installing wrk (apt-get update; apt-get install -y wrk)", style="dim")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    return None if shutil.which("wrk") else "wrk is still missing after apt-get install"


def ensure_granian(console: Console) -> str | None:
    """granian importable by this Python (`--server granian`), pip-installed when missing; returns why not."""
    if importlib.util.find_spec("granian") is not None:
        return None
    console.print(f"installing {GRANIAN} (pip)", style="dim")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", GRANIAN], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    if done.returncode != 0:
        return f"pip install {GRANIAN} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    importlib.invalidate_caches()
    return None if importlib.util.find_spec("granian") is not None else "granian is still missing after pip"


def installed_version(package: str) -> str | None:
    """The version of an npm package in bench/.node, or None."""
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def ensure_npm_tools(console: Console) -> dict[str, str | None]:
    """json-server and Prism in bench/.node; per package, why it is unavailable (None when it is there)."""
    missing = [p for p, v in NPM_TOOLS.items() if installed_version(p) != v]
    status: dict[str, str | None] = dict.fromkeys(NPM_TOOLS)
    if not missing:
        return status
    if not shutil.which("npm"):
        return dict.fromkeys(NPM_TOOLS, "npm is not installed")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    manifest = NODE_DIR / "package.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"name": "zcontacts-bench-tools", "private": True}) + "\n")
    for package in missing:
        console.print(f"installing {package}@{NPM_TOOLS[package]} into bench/.node", style="dim")
        done = subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"{package}@{NPM_TOOLS[package]}",
            ],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or installed_version(package) is None:
            status[package] = f"npm install failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return status
