"""The console end to end in headless Chromium (Playwright driving Debian's chromium package; no browser
download). A real `zcontacts serve` process; screenshots of the list, a customer and the edit form are saved
under the test's tmp dir (or ZCONTACTS_SCREENSHOT_DIR) for a human to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
CANDIDATES = ("chromium", "chromium-browser")


def _find_chromium() -> str | None:
    given = os.environ.get("ZCONTACTS_TEST_CHROMIUM")
    if given:
        return given
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def _install_chromium() -> str | None:
    """Debian's chromium via apt-get, quietly, when running as root with apt available."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=True)
        except (subprocess.SubprocessError, OSError):
            return None
    return _find_chromium()


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary, installed with apt-get if missing and possible; else the tests skip."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    path = _find_chromium() or _install_chromium()
    if path is None:
        pytest.skip("no Chromium: install Debian's chromium package (needs root and apt-get)")
    return path


@pytest.fixture
def page(chromium: str) -> Iterator[Any]:
    """A fresh headless Chromium page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.set_default_timeout(10_000)
            yield context.new_page()
            context.close()
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real server on a fresh SQLite database."""
    running = Server(f"sqlite:///{tmp_path / 'console.db'}", tmp_path).start()
    yield running
    running.stop()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go."""
    target = Path(os.environ.get("ZCONTACTS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_console_in_a_browser(page: Any, server: Server, tmp_path: Path) -> None:
    organization_id, token = server.credentials()
    shots = screenshot_dir(tmp_path)
    page.goto(f"{server.url}/console")
    assert page.url.endswith("/console/signin")

    page.fill("#organization_id", organization_id)
    page.fill("#token", "1000.wrong")
    page.click("button[type=submit]")
    assert "You are not authorized" in page.inner_text("[role=alert]")

    page.fill("#organization_id", organization_id)
    page.fill("#token", token)
    page.click("button[type=submit]")
    assert page.url.endswith("/console/contacts")

    for name, company, email in (
        ("Kenny Digital", "Kenny Digital", "ken@kenny.example"),
        ("Acme Rockets", "Acme", "wile@acme.example"),
        ("Bluth Company", "Bluth", "george@bluth.example"),
    ):
        page.goto(f"{server.url}/console/contacts")
        page.click("text=New customer")
        page.fill("#contact_name", name)
        page.fill("#company_name", company)
        page.select_option("#contact_salutation", "Mr.")
        page.fill("#first_name", name.split()[0])
        page.fill("#email", email)
        page.fill("[name='billing_address.city']", "San Francisco")
        page.click("text=Create customer")
        assert "The customer has been created." in page.inner_text("[role=status]")
        assert page.inner_text("h1").startswith(name)

    page.goto(f"{server.url}/console/contacts")
    assert page.locator("tbody tr").count() == 3
    page.screenshot(path=str(shots / "list.png"), full_page=True)

    page.fill("#search_text", "acme")
    page.click("text=Apply")
    assert page.locator("tbody tr").count() == 1
    page.click("text=Acme Rockets")
    assert "wile@acme.example" in page.inner_text("main")
    assert "Customer created" in page.inner_text("main")
    page.screenshot(path=str(shots / "view.png"), full_page=True)

    page.click("text=Edit")
    assert page.input_value("#email") == "wile@acme.example"
    page.fill("#website", "acme.example")
    page.fill("[name='shipping_address.city']", "Phoenix")
    page.screenshot(path=str(shots / "edit.png"), full_page=True)
    page.click("text=Save")
    assert "Customer information has been saved." in page.inner_text("[role=status]")
    assert "acme.example" in page.inner_text("main")
    assert "Phoenix" in page.inner_text("main")

    page.click("text=Mark as inactive")
    assert "marked as inactive" in page.inner_text("[role=status]")
    page.goto(f"{server.url}/console/contacts?status=inactive")
    assert page.locator("tbody tr").count() == 1

    page.click("text=Acme Rockets")
    page.click("text=Delete…")
    assert "Delete Acme Rockets?" in page.inner_text("h1")
    page.click("text=Delete customer")
    assert "The customer has been deleted." in page.inner_text("[role=status]")
    assert page.locator("tbody tr").count() == 2

    page.click("text=Sign out")
    assert page.url.endswith("/console/signin?notice=signedout")
    page.goto(f"{server.url}/console/contacts")
    assert page.url.endswith("/console/signin")
