"""Secrets never reach the logs: Zoho clients send OAuth client secrets, grant codes and refresh tokens in the
query string (`POST /oauth/v2/token?client_secret=…`), which the server's access log would print. A logging
filter on every log handler zcontacts writes through (its JSON lines, and uvicorn's own loggers) replaces their
values, and anything shaped like a token, with `***`, in messages, arguments and tracebacks alike."""

from __future__ import annotations

import logging
import re

SECRET_PARAMETERS = ("client_secret", "code", "refresh_token", "access_token", "token", "password")
_SECRET_IN_QUERY = re.compile(
    r"(?P<name>(?:^|[?&;\s])(?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;\s\"']*", re.IGNORECASE
)
# A bearer token in text (a header echoed into a log line): Zoho's token shape.
_TOKEN_SHAPE = re.compile(r"\b1000\.[0-9a-f]{16,}(?:\.[0-9a-f]{16,})?\b")
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "zcontacts")


def redact(text: str) -> str:
    """`text` with every secret query parameter's value and every token-shaped string replaced by ***."""
    return _TOKEN_SHAPE.sub("1000.***", _SECRET_IN_QUERY.sub(r"\g<name>***", text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments with `redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; always keep the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: the trace is kept, its secrets are not.
            record.exc_text = redact(_TRACES.formatException(record.exc_info))
        return True


_TRACES = logging.Formatter()
_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to uvicorn's loggers (idempotent: each app instance calls it; zcontacts' own JSON
    handler carries it already, see logs.configure_logging)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
