"""Customer rules: build a contact from a create body, merge an update into one, and keep the primary person's
fields mirrored on the contact. Storage is reached only through the ContactStore protocol."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import msgspec
from msgspec import UNSET

from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import (
    MAX_CONTACT_PERSONS,
    Address,
    AddressIn,
    Contact,
    ContactCreate,
    ContactPerson,
    ContactPersonIn,
    ContactUpdate,
    CustomField,
    CustomFieldIn,
)
from zcontacts.domain.zoho_time import format_zoho
from zcontacts.errors import DuplicateName, FieldTooLong, InvalidValue, NotFound, RequiredField

SALUTATIONS = ("Mr", "Mrs", "Miss", "Ms", "Dr")
_SALUTATION_KEYS = frozenset(s.casefold() for s in SALUTATIONS)
# Deliberately plain: one @, no spaces, a dot in the domain. Zoho refuses the same obvious mistakes.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_CUSTOM_VALUE = 10_000
# Fields of the contact that mirror its primary contact person, with the person's field they come from.
_PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "mobile")


class ContactStore(Protocol):
    """What the rules need from storage; the storage layer's ContactsRepo implements it."""

    def allocate_ids(self, count: int) -> list[int]:
        """`count` fresh ids, unique across the server."""
        ...

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        """True when another contact of the organization has this case-folded name."""
        ...

    def load_for_update(self, organization_id: str, contact_id: str) -> Contact | None:
        """The stored contact, locked for the rest of the transaction, or None."""
        ...

    def insert(self, organization_id: str, contact: Contact, at_ms: int) -> None:
        """Store a new contact and its rows."""
        ...

    def replace(self, organization_id: str, contact: Contact, at_ms: int) -> None:
        """Store a new state of an existing contact and its rows."""
        ...

    def delete(self, organization_id: str, contact_id: str) -> bool:
        """Remove a contact and its rows; False when there was none."""
        ...


def name_key(name: str) -> str:
    """The form of a contact name that uniqueness and name filters compare."""
    return name.strip().casefold()


# ---- operations ------------------------------------------------------------------------------------------


def create_contact(store: ContactStore, org: Organization, body: ContactCreate, at_ms: int) -> Contact:
    """Validate a create body and store the new contact; ids in the body are ignored."""
    _validate(body, creating=True)
    name = _required_name(body.contact_name)
    if store.name_taken(org.organization_id, name_key(name), None):
        raise duplicate_name(name)
    persons_in = body.contact_persons or []
    needs_auto_person = not persons_in and _any_person_field(body)
    ids = iter(store.allocate_ids(3 + len(persons_in) + int(needs_auto_person)))
    contact_id, billing_id, shipping_id = str(next(ids)), str(next(ids)), str(next(ids))
    persons = [_merge_person(ContactPerson(contact_person_id=str(next(ids))), p) for p in persons_in]
    _settle_primary(persons, marked=[i for i, p in enumerate(persons_in) if p.is_primary_contact is True])
    if needs_auto_person:
        persons.append(ContactPerson(contact_person_id=str(next(ids)), is_primary_contact=True))
    persons = _apply_person_fields(persons, body)
    stamp = format_zoho(at_ms, org.time_zone)
    contact = Contact(
        contact_id=contact_id,
        contact_name=name,
        company_name=_text(body.company_name),
        website=_text(body.website),
        contact_salutation="",
        has_transaction=False,
        contact_type="customer",
        source="user",
        is_crm_customer=False,
        is_linked_with_zohocrm=False,
        primary_contact_id="",
        payment_terms=0,
        payment_terms_label="Due on Receipt",
        currency_id=org.currency_id,
        currency_code=org.currency_code,
        currency_symbol=org.currency_symbol,
        price_precision=org.price_precision,
        status="active",
        vat_reg_no="",
        vat_treatment="",
        first_name="",
        last_name="",
        email="",
        phone="",
        mobile="",
        twitter=_text(body.twitter),
        facebook=_text(body.facebook),
        billing_address=_merge_address(Address(address_id=billing_id), body.billing_address),
        shipping_address=_merge_address(Address(address_id=shipping_id), body.shipping_address),
        contact_persons=persons,
        notes=_text(body.notes),
        custom_fields=_merge_custom_fields([], body.custom_fields),
        created_time=stamp,
        last_modified_time=stamp,
    )
    contact = mirror_primary(contact)
    store.insert(org.organization_id, contact, at_ms)
    return contact


def update_contact(
    store: ContactStore, org: Organization, contact_id: str, body: ContactUpdate, at_ms: int
) -> Contact:
    """Merge an update body into the stored contact: present fields replace, addresses merge field by field,
    persons merge by id (new ones are added, unmentioned ones stay); created_time never changes."""
    current = store.load_for_update(org.organization_id, contact_id)
    if current is None:
        raise NotFound()
    _validate(body, creating=False)
    changes: dict[str, object] = {}
    if body.contact_name is not UNSET:
        name = _required_name(body.contact_name)
        if name_key(name) != name_key(current.contact_name) and store.name_taken(
            org.organization_id, name_key(name), contact_id
        ):
            raise duplicate_name(name)
        changes["contact_name"] = name
    for field in ("company_name", "website", "twitter", "facebook", "notes"):
        value = getattr(body, field)
        if value is not UNSET:
            changes[field] = _text(value)
    if body.billing_address is not UNSET:
        changes["billing_address"] = _merge_address(current.billing_address, body.billing_address)
    if body.shipping_address is not UNSET:
        changes["shipping_address"] = _merge_address(current.shipping_address, body.shipping_address)
    if body.custom_fields is not UNSET:
        changes["custom_fields"] = _merge_custom_fields(current.custom_fields, body.custom_fields)
    persons = _merge_persons(store, current.contact_persons, body.contact_persons or [])
    if not any(p.is_primary_contact for p in persons) and _any_person_field(body):
        persons.append(
            ContactPerson(contact_person_id=str(store.allocate_ids(1)[0]), is_primary_contact=True)
        )
    changes["contact_persons"] = _apply_person_fields(persons, body)
    changes["last_modified_time"] = format_zoho(at_ms, org.time_zone)
    contact = mirror_primary(msgspec.structs.replace(current, **changes))
    store.replace(org.organization_id, contact, at_ms)
    return contact


def delete_contact(store: ContactStore, org: Organization, contact_id: str) -> None:
    """Delete a contact with its persons, addresses and custom fields."""
    if not store.delete(org.organization_id, contact_id):
        raise NotFound()


def mirror_primary(contact: Contact) -> Contact:
    """The one rule: a contact's primary_contact_id, salutation, names, email and phones are its primary
    person's (empty when it has none)."""
    primary = next((p for p in contact.contact_persons if p.is_primary_contact), None)
    if primary is None:
        return msgspec.structs.replace(
            contact, primary_contact_id="", contact_salutation="", **dict.fromkeys(_PERSON_FIELDS, "")
        )
    return msgspec.structs.replace(
        contact,
        primary_contact_id=primary.contact_person_id,
        contact_salutation=primary.salutation.rstrip("."),
        **{field: getattr(primary, field) for field in _PERSON_FIELDS},
    )


# ---- merging ---------------------------------------------------------------------------------------------


def _text(value: str | msgspec.UnsetType | None) -> str:
    return value if isinstance(value, str) else ""


def _required_name(value: str | msgspec.UnsetType | None) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise RequiredField("contact_name is required: send a non-empty customer name.")
    return name


def duplicate_name(name: str) -> DuplicateName:
    """The refusal for a name another customer of the organization already has."""
    return DuplicateName(f'The customer "{name}" already exists. Please specify a different contact_name.')


def _merge_address(current: Address, given: AddressIn | msgspec.UnsetType | None) -> Address:
    if not isinstance(given, AddressIn):
        return current
    changes = {
        field: _text(value)
        for field in ("address", "city", "state", "zip", "country", "fax", "attention")
        if (value := getattr(given, field)) is not UNSET
    }
    return msgspec.structs.replace(current, **changes)


def _merge_person(current: ContactPerson, given: ContactPersonIn) -> ContactPerson:
    changes: dict[str, object] = {}
    for field in ContactPerson.__struct_fields__:
        if field in ("contact_person_id", "is_primary_contact"):
            continue
        value = getattr(given, field)
        if value is not UNSET:
            changes[field] = value if isinstance(value, bool) else _text(value)
    return msgspec.structs.replace(current, **changes)


def _merge_persons(
    store: ContactStore, current: list[ContactPerson], given: Sequence[ContactPersonIn]
) -> list[ContactPerson]:
    persons = list(current)
    index = {p.contact_person_id: i for i, p in enumerate(persons)}
    new_count = sum(1 for p in given if _is_new(p))
    fresh_ids = iter(store.allocate_ids(new_count) if new_count else [])
    marked: list[int] = []
    for position, person in enumerate(given):
        if _is_new(person):
            persons.append(_merge_person(ContactPerson(contact_person_id=str(next(fresh_ids))), person))
            slot = len(persons) - 1
        else:
            key = str(person.contact_person_id)
            if key not in index:
                raise InvalidValue(
                    f"Invalid value passed for contact_persons[{position}].contact_person_id: "
                    f"this customer has no contact person {key}."
                )
            slot = index[key]
            persons[slot] = _merge_person(persons[slot], person)
        if person.is_primary_contact is True:
            marked.append(slot)
    if len(persons) > MAX_CONTACT_PERSONS:
        raise InvalidValue(f"A customer can have at most {MAX_CONTACT_PERSONS} contact persons.")
    _settle_primary(persons, marked)
    return persons


def _is_new(person: ContactPersonIn) -> bool:
    """A person without an id is added; one with an id updates that person."""
    return person.contact_person_id in (UNSET, None, "")


def _settle_primary(persons: list[ContactPerson], marked: list[int]) -> None:
    """Exactly one primary person whenever there are persons: the marked one, else the current, else the first."""
    if not persons:
        return
    if marked:
        chosen = marked[0]
    else:
        chosen = next((i for i, p in enumerate(persons) if p.is_primary_contact), 0)
    for i, person in enumerate(persons):
        if person.is_primary_contact != (i == chosen):
            persons[i] = msgspec.structs.replace(person, is_primary_contact=i == chosen)


def _any_person_field(body: ContactUpdate) -> bool:
    """True when the body sets, to something non-empty, a contact field that belongs to the primary person."""
    return any(
        isinstance(value, str) and value != ""
        for value in (body.contact_salutation, *(getattr(body, f) for f in _PERSON_FIELDS))
    )


def _apply_person_fields(persons: list[ContactPerson], body: ContactUpdate) -> list[ContactPerson]:
    """Top-level first_name, last_name, email, phone, mobile and contact_salutation are written to the
    primary person, so that the contact and its primary person never disagree."""
    changes: dict[str, object] = {
        field: _text(value) for field in _PERSON_FIELDS if (value := getattr(body, field)) is not UNSET
    }
    if body.contact_salutation is not UNSET:
        changes["salutation"] = _text(body.contact_salutation)
    if not changes:
        return persons
    return [msgspec.structs.replace(p, **changes) if p.is_primary_contact else p for p in persons]


def _merge_custom_fields(
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
    return fields


# ---- validation ------------------------------------------------------------------------------------------


def _validate(body: ContactUpdate, *, creating: bool) -> None:
    """Rules msgspec's types cannot say: required name, salutations, emails, one primary person, custom fields."""
    if creating:
        _required_name(body.contact_name)
    _check_salutation("contact_salutation", body.contact_salutation)
    _check_email("email", body.email)
    persons = body.contact_persons or []
    for i, person in enumerate(persons):
        _check_salutation(f"contact_persons[{i}].salutation", person.salutation)
        _check_email(f"contact_persons[{i}].email", person.email)
    if sum(1 for p in persons if p.is_primary_contact is True) > 1:
        raise InvalidValue(
            "Invalid value passed for contact_persons: only one contact person can be the primary contact."
        )
    seen: set[str] = set()
    for i, person in enumerate(persons):
        if creating or _is_new(person):
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


def _check_salutation(field: str, value: str | msgspec.UnsetType | None) -> None:
    if not isinstance(value, str) or value == "":
        return
    bare = value[:-1] if value.endswith(".") else value
    if bare.casefold() not in _SALUTATION_KEYS:
        raise InvalidValue(
            f"Invalid value passed for {field}: {value!r} is not one of {', '.join(SALUTATIONS)} "
            "(a trailing dot is allowed)."
        )


def _check_email(field: str, value: str | msgspec.UnsetType | None) -> None:
    if isinstance(value, str) and value != "" and not _EMAIL.match(value):
        raise InvalidValue(f"Invalid value passed for {field}: {value!r} is not a valid email address.")
