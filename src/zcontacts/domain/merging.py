"""Merging request bodies into stored values: addresses field by field, persons by id, custom fields by id,
and the primary-person rules of a person list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec
from msgspec import UNSET

from zcontacts.domain.schemas import (
    MAX_CONTACT_PERSONS,
    MAX_CUSTOM_FIELDS,
    AddressDetail,
    AddressIn,
    ContactPerson,
    ContactPersonIn,
    ContactUpdate,
    CustomField,
    CustomFieldIn,
)
from zcontacts.errors import InvalidValue

# Fields of the contact that mirror its primary contact person.
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "mobile")
ADDRESS_FIELDS = tuple(f for f in AddressDetail.__struct_fields__ if f != "address_id")


class IdSource(Protocol):
    """Where fresh ids come from (the ContactStore)."""

    def allocate_ids(self, count: int) -> list[int]:
        """`count` fresh ids."""
        ...


# ---- helpers --------------------------------------------------------------------------------------------


def text_or_empty(value: str | msgspec.UnsetType | None) -> str:
    """A given string, or "" for null and absent."""
    return value if isinstance(value, str) else ""


def merge_address(current: AddressDetail, given: AddressIn | msgspec.UnsetType | None) -> AddressDetail:
    """Given address fields replace the stored ones."""
    if not isinstance(given, AddressIn):
        return current
    changes = {
        field: text_or_empty(value)
        for field in ADDRESS_FIELDS
        if (value := getattr(given, field)) is not UNSET
    }
    return msgspec.structs.replace(current, **changes)


def merge_person(current: ContactPerson, given: ContactPersonIn) -> ContactPerson:
    """Given person fields replace the stored ones (id and primary mark aside)."""
    changes: dict[str, object] = {}
    for field in ContactPerson.__struct_fields__:
        if field in ("contact_person_id", "is_primary_contact"):
            continue
        value = getattr(given, field)
        if value is not UNSET:
            changes[field] = value if isinstance(value, bool) else text_or_empty(value)
    return msgspec.structs.replace(current, **changes)


def merge_persons(
    store: IdSource, current: list[ContactPerson], given: Sequence[ContactPersonIn]
) -> list[ContactPerson]:
    """Persons with a known id are updated, ones without an id added; unknown ids are refused."""
    persons = list(current)
    index = {p.contact_person_id: i for i, p in enumerate(persons)}
    new_count = sum(1 for p in given if is_new_person(p))
    fresh_ids = iter(store.allocate_ids(new_count) if new_count else [])
    marked: list[int] = []
    for position, person in enumerate(given):
        if is_new_person(person):
            persons.append(merge_person(ContactPerson(contact_person_id=str(next(fresh_ids))), person))
            slot = len(persons) - 1
        else:
            key = str(person.contact_person_id)
            if key not in index:
                raise InvalidValue(
                    f"Invalid value passed for contact_persons[{position}].contact_person_id: "
                    f"this customer has no contact person {key}."
                )
            slot = index[key]
            persons[slot] = merge_person(persons[slot], person)
        if person.is_primary_contact is True:
            marked.append(slot)
    if len(persons) > MAX_CONTACT_PERSONS:
        raise InvalidValue(f"A customer can have at most {MAX_CONTACT_PERSONS} contact persons.")
    settle_primary(persons, marked)
    return persons


def is_new_person(person: ContactPersonIn) -> bool:
    """A person without an id is added; one with an id updates that person."""
    return person.contact_person_id in (UNSET, None, "")


def settle_primary(persons: list[ContactPerson], marked: list[int]) -> None:
    """Exactly one primary person whenever there are persons: the marked one, else the current, else the
    first."""
    if not persons:
        return
    if marked:
        chosen = marked[0]
    else:
        chosen = next((i for i, p in enumerate(persons) if p.is_primary_contact), 0)
    for i, person in enumerate(persons):
        if person.is_primary_contact != (i == chosen):
            persons[i] = msgspec.structs.replace(person, is_primary_contact=i == chosen)


def any_person_field(body: ContactUpdate) -> bool:
    """True when the body sets, to something non-empty, a contact field that belongs to the primary person."""
    return any(
        isinstance(value, str) and value != ""
        for value in (body.contact_salutation, *(getattr(body, f) for f in PERSON_FIELDS))
    )


def apply_person_fields(persons: list[ContactPerson], body: ContactUpdate) -> list[ContactPerson]:
    """Top-level first_name, last_name, email, phone, mobile and contact_salutation are written to the
    primary person, so that the contact and its primary person never disagree."""
    changes: dict[str, object] = {
        field: text_or_empty(value) for field in PERSON_FIELDS if (value := getattr(body, field)) is not UNSET
    }
    if body.contact_salutation is not UNSET:
        changes["salutation"] = text_or_empty(body.contact_salutation)
    if not changes:
        return persons
    return [msgspec.structs.replace(p, **changes) if p.is_primary_contact else p for p in persons]


def merge_custom_fields(
    current: list[CustomField], given: list[CustomFieldIn] | msgspec.UnsetType | None
) -> list[CustomField]:
    """Custom fields merge by id: a given id replaces that value, a new id is appended."""
    fields = list(current)
    if not isinstance(given, list):
        return fields
    index = {f.customfield_id: i for i, f in enumerate(fields)}
    for item in given:
        key = str(item.customfield_id).strip()
        if key in index:
            fields[index[key]] = CustomField(customfield_id=key, value=item.value)
        else:
            index[key] = len(fields)
            fields.append(CustomField(customfield_id=key, value=item.value))
    # The cap is on what the customer holds, not on one body: updates that each add new ids must not grow a
    # customer (and every GET of it) without bound. One that holds more already (from before the cap held
    # across updates) may still change the values it has.
    if len(fields) > MAX_CUSTOM_FIELDS and len(fields) > len(current):
        raise InvalidValue(
            f"Invalid value passed for custom_fields: a customer can have at most {MAX_CUSTOM_FIELDS} custom "
            f"fields (this update would make {len(fields)})."
        )
    return fields
