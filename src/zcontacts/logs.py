"""Structured logs: every record of the `zcontacts` loggers as one JSON line on stderr, for log collectors.

The access log (`zcontacts.access`, one line per request) carries the request's id, method, route template,
status, duration and organization id; it never carries headers, tokens or bodies."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

from zcontacts.redact import RedactSecrets

ACCESS_LOGGER = "zcontacts.access"
# The attribute of an access record holding its fields as one dict (see access_record).
FIELDS = "fields"
# LogRecord attributes that are not extra fields a caller passed.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_ENCODE = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, then any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's JSON line."""
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields is not None:  # an access record: its fields are ready-made (the per-request fast path)
            line.update(fields)
        else:
            for key, value in record.__dict__.items():
                if key not in _STANDARD:
                    line[key] = value
        if record.exc_info:
            # exc_text when a filter already formatted (and redacted) the trace, see zcontacts.redact.
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return _ENCODE(line).decode()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def access_record(fields: dict[str, Any]) -> logging.LogRecord:
    """An INFO record of the access log carrying `fields`. Built directly rather than through
    `Logger.info(extra=…)`, which walks the stack for the caller and copies each extra key: a third of the
    line's cost, paid on every request."""
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None)
    record.fields = fields
    return record


_last_second: tuple[int, str] = (-1, "")


def _iso(created: float) -> str:
    global _last_second
    whole = int(created)
    if whole != _last_second[0]:  # strftime once a second, not once a line
        _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_last_second[1]}.{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the `zcontacts` loggers at `level` (`--log-level`); idempotent."""
    logger = logging.getLogger("zcontacts")
    logger.setLevel(level.upper())
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactSecrets())  # every zcontacts.* record, child loggers' included
        logger.addHandler(handler)
        # The lines are complete here; the root logger (if anyone configured it) would print them again.
        logger.propagate = False
