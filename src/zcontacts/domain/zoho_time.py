"""Zoho's time format: `2017-02-28T10:36:40+0530`, in the organization's time zone."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone called `name`; raises ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def format_zoho(epoch_ms: int, time_zone: str) -> str:
    """Render a UTC instant the way Zoho does, in `time_zone` (to the second, as Zoho does)."""
    return _format_second(epoch_ms // 1000, time_zone)


# A write renders its second two or three times, and writes come many to a second: rendering one (a zone
# conversion and strftime) was 5 % of a served create (py-spy).
@lru_cache(maxsize=1024)
def _format_second(epoch_s: int, time_zone: str) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(zone(time_zone))
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


def now_ms() -> int:
    """The current UTC instant in milliseconds."""
    return time.time_ns() // 1_000_000
