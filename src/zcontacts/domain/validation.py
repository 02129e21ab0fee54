"""Rules msgspec's types cannot say: required name, salutations, emails, one primary person, custom fields, no
NUL characters."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
from msgspec import UNSET

from zcontacts.domain.schemas import ContactPersonIn, ContactUpdate
from zcontacts.errors import FieldTooLong, InvalidValue, RequiredField

SALUTATIONS = ("Mr", "Mrs", "Miss", "Ms", "Dr")
_SALUTATION_KEYS = frozenset(s.casefold() for s in SALUTATIONS)
# Deliberately plain: one @, no spaces, no empty dot-separated part (".a@b.com", "a@b..com"), a dot in the
# domain, no label starting or ending with "-". Zoho refuses the same obvious mistakes. Matched whole
# (fullmatch): "$" would also match before a trailing newline.
_LABEL = r"[^@\s.-](?:[^@\s.]*[^@\s.-])?"
_EMAIL = re.compile(rf"[^@\s.]+(?:\.[^@\s.]+)*@{_LABEL}(?:\.{_LABEL})+")
MAX_CUSTOM_VALUE = 10_000


def validate_body(body: ContactUpdate, *, creating: bool) -> None:
    """Check a create or update body beyond its types; raises the ZohoError naming the first bad field."""
    if creating and not (isinstance(body.contact_name, str) and body.contact_name.strip()):
        raise RequiredField("contact_name is required: send a non-empty customer name.")
    check_salutation("contact_salutation", body.contact_salutation)
    check_email("email", body.email)
    persons = body.contact_persons or []
    for i, person in enumerate(persons):
        check_salutation(f"contact_persons[{i}].salutation", person.salutation)
        check_email(f"contact_persons[{i}].email", person.email)
    if sum(1 for p in persons if p.is_primary_contact is True) > 1:
        raise InvalidValue(
            "Invalid value passed for contact_persons: only one contact person can be the primary contact."
        )
    seen: set[str] = set()
    for i, person in enumerate(persons):
        if creating or person.contact_person_id in (UNSET, None, ""):
            continue
        key = str(person.contact_person_id)
        if key in seen:
            raise InvalidValue(
                f"Invalid value passed for contact_persons[{i}].contact_person_id: {key} is given twice."
            )
        seen.add(key)
    for i, field in enumerate(body.custom_fields or []):
        if not str(field.customfield_id).strip():
            raise RequiredField(f"custom_fields[{i}].customfield_id is required.")
        if len(str(field.customfield_id)) > 100:
            raise FieldTooLong(f"custom_fields[{i}].customfield_id must be at most 100 characters long.")
        if isinstance(field.value, str) and len(field.value) > MAX_CUSTOM_VALUE:
            raise FieldTooLong(
                f"custom_fields[{i}].value must be at most {MAX_CUSTOM_VALUE} characters long."
            )


def check_salutation(field: str, value: str | msgspec.UnsetType | None) -> None:
    """Mr, Mrs, Miss, Ms or Dr, any case, one trailing dot allowed; empty means none."""
    if not isinstance(value, str) or value == "":
        return
    bare = value[:-1] if value.endswith(".") else value
    if bare.casefold() not in _SALUTATION_KEYS:
        raise InvalidValue(
            f"Invalid value passed for {field}: {value!r} is not one of {', '.join(SALUTATIONS)} "
            "(a trailing dot is allowed)."
        )


def check_email(field: str, value: str | msgspec.UnsetType | None) -> None:
    """A plausible address, or empty."""
    if isinstance(value, str) and value != "" and not _EMAIL.fullmatch(value):
        raise InvalidValue(f"Invalid value passed for {field}: {value!r} is not a valid email address.")


def check_person(prefix: str, person: ContactPersonIn) -> None:
    """The rules of one contact person's fields."""
    check_salutation(f"{prefix}salutation", person.salutation)
    check_email(f"{prefix}email", person.email)


def nul_refusal(field: str) -> InvalidValue:
    """The refusal of a NUL character in `field` ("" when the body is not told apart): PostgreSQL cannot store
    one and SQLite would keep it, so no backend stores it faithfully."""
    where = f" for {field}" if field else ""
    return InvalidValue(f"Invalid value passed{where}: strings must not contain NUL characters.")


def nul_path(value: object) -> str | None:
    """Where a decoded body holds a NUL character, as a field path (`contact_persons[0].email`; a key with one
    names the object holding it, "" at the top), or None. The API finds them in the raw body instead, where a
    substring test is cheaper than this walk; file imports, whose rows are decoded first, use this."""
    items: Iterable[tuple[str | int, object]]
    if isinstance(value, str):
        return "" if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return ""
        inner = nul_path(item)
        if inner is not None:  # the path is built only on the way out of a hit
            head = f"[{key}]" if isinstance(key, int) else str(key)
            return head + (inner if inner[:1] in ("", "[") else f".{inner}")
    return None
