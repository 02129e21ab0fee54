"""msgspec's validation errors as Zoho errors naming the field: shared by request bodies and file imports."""

from __future__ import annotations

import re

import msgspec

from zcontacts.errors import FieldTooLong, InvalidValue, MalformedJSON, RequiredField, ZohoError

_WHERE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_TOO_LONG = re.compile(r"Expected `(?P<kind>str|array)[^`]*` of length <= (?P<limit>\d+)")
_WRONG_TYPE = re.compile(r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean (true or false)",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def translate(exc: msgspec.ValidationError) -> ZohoError:
    """msgspec's `Expected … - at `$.a[0].b`` as a Zoho error naming the field `a[0].b`."""
    text = str(exc)
    where = _WHERE.search(text)
    path = where.group("path").lstrip(".") if where else ""
    detail = text[: where.start()] if where else text
    if missing := _MISSING.match(detail):
        field = f"{path}.{missing['field']}" if path else missing["field"]
        return RequiredField(f"{field} is required.")
    if not path:
        return MalformedJSON("JSON is not well formed: the request body must be a JSON object.")
    if too_long := _TOO_LONG.match(detail):
        if too_long["kind"] == "array":
            return InvalidValue(
                f"Invalid value passed for {path}: at most {too_long['limit']} items are allowed."
            )
        return FieldTooLong(f"{path} must be at most {too_long['limit']} characters long.")
    if wrong := _WRONG_TYPE.match(detail):
        expected = " or ".join(_TYPE_WORDS.get(k.strip(), k.strip()) for k in wrong["expected"].split("|"))
        got = _TYPE_WORDS.get(wrong["got"], wrong["got"])
        return InvalidValue(f"Invalid value passed for {path}: expected {expected}, got {got}.")
    return InvalidValue(f"Invalid value passed for {path}: {detail}.")
