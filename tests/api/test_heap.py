"""A served process freezes what its start-up left alive out of the garbage collector's full collections
(ZCONTACTS_GC_FREEZE, app.freeze_heap); an app made in process, as here in the tests, is left alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.api.test_metrics import sample
from zcontacts.app import create_app, create_app_from_env
from zcontacts.config import Settings


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the frozen are never collected, so the suite thaws them)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _frozen_after_start(app: object) -> tuple[int, float | None]:
    """Objects frozen once the app has started, and what its /metrics says of them."""
    with TestClient(app=app) as client:  # type: ignore[arg-type]
        frozen = gc.get_freeze_count()
        exposed = sample(client.get("/metrics").text, "zcontacts_gc_frozen_objects")
    return frozen, exposed


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'heap.db'}", **changes)  # type: ignore[arg-type]


def test_a_served_app_freezes_what_start_up_left(tmp_path: Path) -> None:
    frozen, exposed = _frozen_after_start(create_app(_settings(tmp_path), served=True))
    # The modules, classes and app made so far: far more than any one request makes.
    assert frozen > 10_000
    assert exposed is not None
    assert exposed > 10_000


def test_an_app_made_in_process_freezes_nothing(tmp_path: Path) -> None:
    assert _frozen_after_start(create_app(_settings(tmp_path))) == (0, 0)


def test_the_setting_turns_it_off(tmp_path: Path) -> None:
    assert _frozen_after_start(create_app(_settings(tmp_path, gc_freeze=False), served=True)) == (0, 0)


def test_the_server_factory_freezes_unless_the_environment_says_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZCONTACTS_DATABASE_URL", f"sqlite:///{tmp_path / 'heap.db'}")
    # The factory's JSON log handler would stop the zcontacts loggers propagating to later tests' caplog.
    monkeypatch.setattr("zcontacts.app.configure_logging", lambda level: None)
    assert _frozen_after_start(create_app_from_env())[0] > 10_000
    gc.unfreeze()
    monkeypatch.setenv("ZCONTACTS_GC_FREEZE", "false")
    assert _frozen_after_start(create_app_from_env()) == (0, 0)


def test_nothing_is_collected_that_is_still_in_use(tmp_path: Path) -> None:
    """Freezing moves objects, it frees none: the served app still answers every kind of request after it."""
    app = create_app(_settings(tmp_path, rate_limit_per_minute=0), served=True)
    with TestClient(app=app) as client:
        assert gc.get_freeze_count() > 0
        gc.collect()  # a full collection after the freeze: it walks only what came after
        assert client.get("/healthz").status_code == 200
        assert client.get("/docs/openapi.json").status_code == 200
        assert client.get("/expense/v1/contacts").json()["code"] != 0  # no token: a Zoho refusal
