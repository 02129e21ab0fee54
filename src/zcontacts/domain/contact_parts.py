"""A contact's parts as sub-resources: its contact persons and its addresses."""

from __future__ import annotations

import msgspec

from zcontacts.domain.contacts import (
    ContactStore,
    Stamp,
    load_by_person,
    load_contact,
    person_name,
    person_of,
    save_change,
    with_persons,
)
from zcontacts.domain.merging import merge_address, merge_person, settle_primary
from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import (
    MAX_CONTACT_PERSONS,
    AddressDetail,
    AddressIn,
    ContactPerson,
    ContactPersonCreate,
    ContactPersonIn,
    ContactRecord,
)
from zcontacts.domain.validation import check_person
from zcontacts.errors import InvalidValue, NotFound, RequiredField

MAX_ADDITIONAL_ADDRESSES = 50


def add_person(
    store: ContactStore, org: Organization, body: ContactPersonCreate, stamp: Stamp
) -> tuple[ContactRecord, ContactPerson]:
    """Add a person to the contact named in the body; it becomes primary when marked so or when it is the
    contact's first person."""
    check_person("", body)
    if not isinstance(body.first_name, str) or not body.first_name.strip():
        raise RequiredField("first_name is required.")
    current = load_contact(store, org, str(body.contact_id), "contact_id")
    persons = list(current.contact.contact_persons)
    if len(persons) >= MAX_CONTACT_PERSONS:
        raise InvalidValue(f"A customer can have at most {MAX_CONTACT_PERSONS} contact persons.")
    person = merge_person(ContactPerson(contact_person_id=str(store.allocate_ids(1)[0])), body)
    persons.append(person)
    settle_primary(persons, marked=[len(persons) - 1] if body.is_primary_contact is True else [])
    record = with_persons(current, persons)
    saved = save_change(
        store, org, current, record, stamp, "person_added", f"Contact person {person_name(person)} added"
    )
    return saved, person_of(saved, person.contact_person_id)


def update_person(
    store: ContactStore, org: Organization, contact_person_id: str, body: ContactPersonIn, stamp: Stamp
) -> tuple[ContactRecord, ContactPerson]:
    """Update one person field by field; `is_primary_contact: true` makes it the primary person."""
    check_person("", body)
    if body.first_name is None or (isinstance(body.first_name, str) and not body.first_name.strip()):
        # Its create requires one: an update may change it, not take it away.
        raise RequiredField("first_name is required: a contact person's first name cannot be emptied.")
    current = load_by_person(store, org, contact_person_id)
    persons = list(current.contact.contact_persons)
    slot = next(i for i, p in enumerate(persons) if p.contact_person_id == contact_person_id)
    persons[slot] = merge_person(persons[slot], body)
    settle_primary(persons, marked=[slot] if body.is_primary_contact is True else [])
    record = with_persons(current, persons)
    description = f"Contact person {person_name(persons[slot])} updated"
    saved = save_change(store, org, current, record, stamp, "person_updated", description)
    return saved, person_of(saved, contact_person_id)


def delete_person(
    store: ContactStore, org: Organization, contact_person_id: str, stamp: Stamp
) -> ContactRecord:
    """Remove a person; when it was primary, the first remaining person becomes primary."""
    current = load_by_person(store, org, contact_person_id)
    removed = person_of(current, contact_person_id)
    persons = [p for p in current.contact.contact_persons if p.contact_person_id != contact_person_id]
    settle_primary(persons, marked=[])
    record = with_persons(current, persons)
    description = f"Contact person {person_name(removed)} deleted"
    return save_change(store, org, current, record, stamp, "person_deleted", description)


def mark_primary(
    store: ContactStore, org: Organization, contact_person_id: str, stamp: Stamp
) -> ContactRecord:
    """Make one person the contact's primary person."""
    current = load_by_person(store, org, contact_person_id)
    persons = list(current.contact.contact_persons)
    slot = next(i for i, p in enumerate(persons) if p.contact_person_id == contact_person_id)
    settle_primary(persons, marked=[slot])
    record = with_persons(current, persons)
    description = f"Contact person {person_name(persons[slot])} marked as primary"
    return save_change(store, org, current, record, stamp, "primary_changed", description)


# ---- addresses ------------------------------------------------------------------------------------------


def addresses_of(record: ContactRecord) -> list[AddressDetail]:
    """Billing, shipping, then the additional addresses."""
    return [record.billing, record.shipping, *record.additional]


def add_address(
    store: ContactStore, org: Organization, contact_id: str, body: AddressIn, stamp: Stamp
) -> tuple[ContactRecord, AddressDetail]:
    """Add an address beside billing and shipping."""
    current = load_contact(store, org, contact_id)
    check_address_room(len(current.additional), 1)
    address = merge_address(AddressDetail(address_id=str(store.allocate_ids(1)[0])), body)
    record = msgspec.structs.replace(current, additional=[*current.additional, address])
    saved = save_change(store, org, current, record, stamp, "address_added", "Address added")
    return saved, address


def check_address_room(kept: int, adding: int) -> None:
    """Refuse adding `adding` addresses to a contact that keeps `kept` beside billing and shipping, past the cap."""
    if kept + adding > MAX_ADDITIONAL_ADDRESSES:
        raise InvalidValue(f"A customer can have at most {MAX_ADDITIONAL_ADDRESSES} additional addresses.")


def update_address(
    store: ContactStore, org: Organization, contact_id: str, address_id: str, body: AddressIn, stamp: Stamp
) -> tuple[ContactRecord, AddressDetail]:
    """Update any of the contact's addresses (billing, shipping or additional) field by field."""
    current = load_contact(store, org, contact_id)
    if current.billing.address_id == address_id:
        record = msgspec.structs.replace(current, billing=merge_address(current.billing, body))
    elif current.shipping.address_id == address_id:
        record = msgspec.structs.replace(current, shipping=merge_address(current.shipping, body))
    elif any(a.address_id == address_id for a in current.additional):
        additional = [merge_address(a, body) if a.address_id == address_id else a for a in current.additional]
        record = msgspec.structs.replace(current, additional=additional)
    else:
        raise NotFound("Address does not exist.")
    saved = save_change(store, org, current, record, stamp, "address_updated", "Address updated")
    return saved, next(a for a in addresses_of(saved) if a.address_id == address_id)


def delete_address(
    store: ContactStore, org: Organization, contact_id: str, address_id: str, stamp: Stamp
) -> ContactRecord:
    """Delete an additional address; billing and shipping always exist (clear their fields instead)."""
    current = load_contact(store, org, contact_id)
    if address_id in (current.billing.address_id, current.shipping.address_id):
        raise InvalidValue(
            "Invalid value passed for address_id: the billing and shipping addresses cannot be deleted; "
            "update them with empty fields instead."
        )
    if not any(a.address_id == address_id for a in current.additional):
        raise NotFound("Address does not exist.")
    record = msgspec.structs.replace(
        current, additional=[a for a in current.additional if a.address_id != address_id]
    )
    return save_change(store, org, current, record, stamp, "address_deleted", "Address deleted")
