"""Zoho-style ids: numeric strings, int64 in storage."""

from __future__ import annotations

MAX_ID = 2**63 - 1


def as_id(text: str) -> int | None:
    """The id a string names, or None. Only ASCII digits count: str.isdigit() also accepts '²' and the like,
    which int() refuses."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def is_id(text: str) -> bool:
    """True when the string names an id."""
    return as_id(text) is not None
