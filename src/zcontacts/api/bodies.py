"""Request bodies: JSON (or Zoho's legacy form field JSONString), decoded strictly by msgspec, and msgspec's
errors translated into Zoho envelopes that name the field. The framework's own error body never leaks."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import FormMultiDict

from zcontacts.domain.body_errors import translate
from zcontacts.domain.validation import nul_path, nul_refusal
from zcontacts.errors import InvalidValue, MalformedJSON, UnsupportedMediaType

T = TypeVar("T")
_JSON_STRING = b"JSONString="

# An escaped NUL (\u0000 preceded by an even number of backslashes): no backend stores it faithfully.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def decoder_for(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A strict decoder, built once per body type at import time."""
    return msgspec.json.Decoder(kind)


async def read_body(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T]) -> T:
    """The request's body decoded by `decoder`, or a ZohoError saying what is wrong with it. The JSON may also
    come as Zoho's legacy JSONString: a form field, or (older Books SDKs, with no body) a query parameter."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        value = _form_field(await request.body(), "JSONString")
    elif content_type == "multipart/form-data":
        field = (await read_form(request)).get("JSONString")
        value = field if isinstance(field, str) else None
    elif content_type == "application/json" or content_type.endswith("+json") or not content_type:
        raw = await request.body()
        # The query's JSONString only when there is no body at all (the fast path takes any other).
        if raw or _JSON_STRING not in request.scope["query_string"]:
            return decode(raw, decoder)
        value = None
    else:
        raise UnsupportedMediaType(
            f"Unsupported content type {content_type!r}: send the body as application/json "
            "(or as form data with a JSONString field)."
        )
    if value is None:
        value = _form_field(request.scope["query_string"], "JSONString")
    if value is None:
        raise InvalidValue("Invalid value passed for JSONString: send the customer as JSON in JSONString.")
    return decode(value.encode("utf-8", "surrogatepass"), decoder)


async def read_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    """The request's form fields. A part whose bytes are not in its charset (or names a charset Python does
    not know) is the client's mistake, refused as a malformed body: the framework's parser lets it escape as
    an error of its own, which would have been a 500."""
    try:
        return await request.form()
    except (UnicodeDecodeError, LookupError):
        raise MalformedJSON(
            "JSON is not well formed: a form field is not valid text in its character set."
        ) from None


def _form_field(body: bytes, name: str) -> str | None:
    """One field of a urlencoded form, decoded strictly: bytes that are not UTF-8 are refused, not replaced."""
    try:
        values = urllib.parse.parse_qs(body.decode("ascii"), encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MalformedJSON("JSON is not well formed: the form body is not valid UTF-8.") from None
    found = values.get(name)
    return found[0] if found else None


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode JSON bytes strictly into the decoder's type."""
    if not raw.strip():
        raise MalformedJSON("JSON is not well formed: the request body is empty.")
    # The substring test first: the regex tries every position of the body (16 µs for 0.5 KB, 0.8 µs this way).
    if (b"\\u0000" in raw or b"\\U0000" in raw) and _ESCAPED_NUL.search(raw):
        raise nul_refusal(_nul_field(raw))
    if not raw.isascii():
        # msgspec checks the UTF-8 of the fields it keeps, not of those it skips: a body is JSON text only if
        # all of it is UTF-8 (0.2 µs for a 1 KB body with accents, 0.05 µs when isascii, as most bodies are).
        try:
            raw.decode()
        except UnicodeDecodeError:
            raise MalformedJSON("JSON is not well formed: the request body is not valid UTF-8.") from None
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise translate(exc) from None
    except msgspec.DecodeError:
        raise MalformedJSON() from None
    except UnicodeDecodeError:
        raise MalformedJSON("JSON is not well formed: the request body is not valid UTF-8.") from None
    except RecursionError:
        # msgspec gives up on nesting deeper than the interpreter's recursion limit (even in ignored fields).
        raise MalformedJSON("JSON is not well formed: the request body is nested too deeply.") from None


def _nul_field(raw: bytes) -> str:
    """The field holding the NUL character (`contact_persons[0].first_name`), named in the refusal; "" when the
    body cannot be read as JSON at all (then it is refused for that next, and this refusal says no more)."""
    try:
        return nul_path(msgspec.json.decode(raw)) or ""
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return ""
