"""Customer rules: build a contact from a create body, merge an update into one, change its status, persons
and addresses, and keep the contact consistent (`finish`: the primary person's fields mirrored, the addresses
projected). Every change is saved through `save_change`, which also records it in the contact's history. Storage is
reached only through the ContactStore protocol."""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Protocol

import msgspec
from msgspec import UNSET

from zcontacts.domain.ids import is_id
from zcontacts.domain.merging import (
    PERSON_FIELDS,
    any_person_field,
    apply_person_fields,
    merge_address,
    merge_custom_fields,
    merge_person,
    merge_persons,
    settle_primary,
    text_or_empty,
)
from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import (
    Address,
    AddressDetail,
    Contact,
    ContactCreate,
    ContactPerson,
    ContactRecord,
    ContactUpdate,
)
from zcontacts.domain.validation import validate_body
from zcontacts.domain.zoho_time import format_zoho
from zcontacts.errors import DuplicateName, InvalidValue, NotFound, RequiredField

_REFERENCE_ADDRESS_FIELDS = tuple(f for f in Address.__struct_fields__ if f != "address_id")


class ChildRows(enum.Enum):
    """The kinds of rows a contact has beside its own (its addresses, persons and custom fields)."""

    ADDRESSES = "addresses"
    PERSONS = "persons"
    CUSTOM_FIELDS = "custom_fields"


ALL_CHILDREN = frozenset(ChildRows)


class Stamp(msgspec.Struct, frozen=True):
    """When a change happens and who makes it (the token or OAuth client behind the request)."""

    at_ms: int
    actor_id: str = ""
    actor_name: str = "system"


class Change(msgspec.Struct, frozen=True):
    """One entry of a contact's history, written in the same transaction as the change."""

    contact_id: str
    contact_name: str
    operation: str
    description: str
    changed_fields: list[str]
    stamp: Stamp


class ContactStore(Protocol):
    """What the rules need from storage; the storage layer's ContactsRepo implements it."""

    def allocate_ids(self, count: int) -> list[int]:
        """`count` fresh ids, unique across the server."""
        ...

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        """True when another contact of the organization has this case-folded name."""
        ...

    def load_for_update(self, organization_id: str, contact_id: str) -> ContactRecord | None:
        """The stored contact, locked for the rest of the transaction, or None."""
        ...

    def contact_of_person(self, organization_id: str, contact_person_id: str) -> str | None:
        """The id of the contact a person belongs to, or None."""
        ...

    def insert(self, organization_id: str, record: ContactRecord, at_ms: int) -> None:
        """Store a new contact and its rows."""
        ...

    def replace(
        self,
        organization_id: str,
        record: ContactRecord,
        at_ms: int,
        *,
        children: Collection[ChildRows] = ALL_CHILDREN,
    ) -> None:
        """Store a new state of an existing contact and the kinds of its rows named in `children` (the others
        are unchanged and stay as they are)."""
        ...

    def delete(self, organization_id: str, contact_id: str) -> str | None:
        """Remove a contact and its rows; returns its name, or None when there was none."""
        ...

    def record_change(self, organization_id: str, change: Change) -> None:
        """Append an entry to the contact's history."""
        ...


def name_key(name: str) -> str:
    """The form of a contact name that uniqueness and name filters compare."""
    return name.strip().casefold()


def duplicate_name(name: str) -> DuplicateName:
    """The refusal for a name another customer of the organization already has."""
    return DuplicateName(f'The customer "{name}" already exists. Please specify a different contact_name.')


# ---- the contact ----------------------------------------------------------------------------------------


def create_contact(
    store: ContactStore, org: Organization, body: ContactCreate, stamp: Stamp
) -> ContactRecord:
    """Validate a create body and store the new contact; ids in the body are ignored."""
    validate_body(body, creating=True)
    name = _required_name(body.contact_name)
    if store.name_taken(org.organization_id, name_key(name), None):
        raise duplicate_name(name)
    persons_in = body.contact_persons or []
    needs_auto_person = not persons_in and any_person_field(body)
    ids = iter(store.allocate_ids(3 + len(persons_in) + int(needs_auto_person)))
    contact_id, billing_id, shipping_id = str(next(ids)), str(next(ids)), str(next(ids))
    persons = [merge_person(ContactPerson(contact_person_id=str(next(ids))), p) for p in persons_in]
    settle_primary(persons, marked=[i for i, p in enumerate(persons_in) if p.is_primary_contact is True])
    if needs_auto_person:
        persons.append(ContactPerson(contact_person_id=str(next(ids)), is_primary_contact=True))
    stamp_text = format_zoho(stamp.at_ms, org.time_zone)
    contact = Contact(
        contact_id=contact_id,
        contact_name=name,
        company_name=text_or_empty(body.company_name),
        website=text_or_empty(body.website),
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
        twitter=text_or_empty(body.twitter),
        facebook=text_or_empty(body.facebook),
        billing_address=Address(address_id=billing_id),
        shipping_address=Address(address_id=shipping_id),
        contact_persons=apply_person_fields(persons, body),
        notes=text_or_empty(body.notes),
        custom_fields=merge_custom_fields([], body.custom_fields),
        created_time=stamp_text,
        last_modified_time=stamp_text,
    )
    record = ContactRecord(
        contact=contact,
        billing=merge_address(AddressDetail(address_id=billing_id), body.billing_address),
        shipping=merge_address(AddressDetail(address_id=shipping_id), body.shipping_address),
    )
    return save_change(store, org, None, record, stamp, "created", "Customer created")


def update_contact(
    store: ContactStore, org: Organization, contact_id: str, body: ContactUpdate, stamp: Stamp
) -> ContactRecord:
    """Merge an update body into the stored contact: present fields replace, addresses merge field by field,
    persons merge by id (new ones are added, unmentioned ones stay); created_time never changes."""
    current = load_contact(store, org, contact_id)
    validate_body(body, creating=False)
    changes: dict[str, object] = {}
    if body.contact_name is not UNSET:
        name = _required_name(body.contact_name)
        if name_key(name) != name_key(current.contact.contact_name) and store.name_taken(
            org.organization_id, name_key(name), contact_id
        ):
            raise duplicate_name(name)
        changes["contact_name"] = name
    for field in ("company_name", "website", "twitter", "facebook", "notes"):
        value = getattr(body, field)
        if value is not UNSET:
            changes[field] = text_or_empty(value)
    if body.custom_fields is not UNSET:
        changes["custom_fields"] = merge_custom_fields(current.contact.custom_fields, body.custom_fields)
    persons = merge_persons(store, current.contact.contact_persons, body.contact_persons or [])
    if not any(p.is_primary_contact for p in persons) and any_person_field(body):
        new_id = str(store.allocate_ids(1)[0])
        persons.append(ContactPerson(contact_person_id=new_id, is_primary_contact=True))
    changes["contact_persons"] = apply_person_fields(persons, body)
    record = msgspec.structs.replace(
        current,
        contact=msgspec.structs.replace(current.contact, **changes),
        billing=merge_address(current.billing, body.billing_address),
        shipping=merge_address(current.shipping, body.shipping_address),
    )
    return save_change(store, org, current, record, stamp, "updated", "Customer updated")


def delete_contact(store: ContactStore, org: Organization, contact_id: str, stamp: Stamp) -> None:
    """Delete a contact with its persons, addresses and custom fields; its history stays for operators."""
    name = store.delete(org.organization_id, contact_id)
    if name is None:
        raise NotFound()
    store.record_change(
        org.organization_id, Change(contact_id, name, "deleted", "Customer deleted", [], stamp)
    )


def set_status(
    store: ContactStore, org: Organization, contact_id: str, status: str, stamp: Stamp
) -> ContactRecord:
    """Mark a contact active or inactive (a no-op, and no history entry, when it already is)."""
    current = load_contact(store, org, contact_id)
    if current.contact.status == status:
        return current
    record = msgspec.structs.replace(current, contact=msgspec.structs.replace(current.contact, status=status))
    return save_change(store, org, current, record, stamp, f"marked_{status}", f"Marked as {status}")


# ---- the one place a contact is made consistent and saved -----------------------------------------------


def finish(record: ContactRecord) -> ContactRecord:
    """The rules every stored contact obeys: its primary_contact_id, salutation, names, email and phones are its
    primary person's (empty when it has none), and its billing/shipping objects show the stored addresses."""
    contact = record.contact
    primary = next((p for p in contact.contact_persons if p.is_primary_contact), None)
    if primary is None:
        mirrored: dict[str, object] = {"primary_contact_id": "", "contact_salutation": ""}
        mirrored.update(dict.fromkeys(PERSON_FIELDS, ""))
    else:
        mirrored = {
            "primary_contact_id": primary.contact_person_id,
            "contact_salutation": primary.salutation.rstrip("."),
        }
        mirrored.update({field: getattr(primary, field) for field in PERSON_FIELDS})
    contact = msgspec.structs.replace(
        contact,
        billing_address=_reference_address(record.billing),
        shipping_address=_reference_address(record.shipping),
        **mirrored,
    )
    return msgspec.structs.replace(record, contact=contact)


def mirror_primary(contact: Contact) -> Contact:
    """The primary-person rule alone, for a bare contact (see `finish`)."""
    billing = AddressDetail(**msgspec.structs.asdict(contact.billing_address))
    shipping = AddressDetail(**msgspec.structs.asdict(contact.shipping_address))
    return finish(ContactRecord(contact=contact, billing=billing, shipping=shipping)).contact


def changed_fields(before: ContactRecord, after: ContactRecord) -> list[str]:
    """Names of the contact fields (and address groups) that differ."""
    changed = [
        field
        for field in Contact.__struct_fields__
        if field not in ("last_modified_time", "billing_address", "shipping_address")
        and getattr(before.contact, field) != getattr(after.contact, field)
    ]
    for field, old, new in (
        ("billing_address", before.billing, after.billing),
        ("shipping_address", before.shipping, after.shipping),
        ("addresses", before.additional, after.additional),
    ):
        if old != new:
            changed.append(field)
    return changed


def save_change(
    store: ContactStore,
    org: Organization,
    before: ContactRecord | None,
    record: ContactRecord,
    stamp: Stamp,
    operation: str,
    description: str,
) -> ContactRecord:
    record = finish(record)
    if before is None:
        store.insert(org.organization_id, record, stamp.at_ms)
        changed = [f for f in Contact.__struct_fields__ if f != "last_modified_time"]
    else:
        changed = changed_fields(before, record)
        contact = msgspec.structs.replace(
            record.contact, last_modified_time=format_zoho(stamp.at_ms, org.time_zone)
        )
        record = msgspec.structs.replace(record, contact=contact)
        store.replace(org.organization_id, record, stamp.at_ms, children=changed_children(before, record))
    if changed and operation == "updated":
        description = f"{description}: {', '.join(changed)}"
    store.record_change(
        org.organization_id,
        Change(
            record.contact.contact_id, record.contact.contact_name, operation, description, changed, stamp
        ),
    )
    return record


def changed_children(before: ContactRecord, after: ContactRecord) -> frozenset[ChildRows]:
    """The kinds of a contact's rows an update must rewrite. Each kind is made of its own part of the record
    alone, so an unchanged part keeps its rows and their index entries (fewer pages for the commit to write)."""
    changed: set[ChildRows] = set()
    if (before.billing, before.shipping, before.additional) != (
        after.billing,
        after.shipping,
        after.additional,
    ):
        changed.add(ChildRows.ADDRESSES)
    if before.contact.contact_persons != after.contact.contact_persons:
        changed.add(ChildRows.PERSONS)
    if before.contact.custom_fields != after.contact.custom_fields:
        changed.add(ChildRows.CUSTOM_FIELDS)
    return frozenset(changed)


# ---- loading ---------------------------------------------------------------------------------------------


def load_contact(store: ContactStore, org: Organization, contact_id: str, field: str = "") -> ContactRecord:
    record = store.load_for_update(org.organization_id, contact_id) if is_id(contact_id) else None
    if record is None:
        if field:
            raise InvalidValue(
                f"Invalid value passed for {field}: no customer {contact_id} in this organization."
            )
        raise NotFound()
    return record


def load_by_person(store: ContactStore, org: Organization, contact_person_id: str) -> ContactRecord:
    contact_id = store.contact_of_person(org.organization_id, contact_person_id)
    record = store.load_for_update(org.organization_id, contact_id) if contact_id else None
    if record is None:
        raise NotFound("Contact person does not exist.")
    return record


def person_of(record: ContactRecord, contact_person_id: str) -> ContactPerson:
    return next(p for p in record.contact.contact_persons if p.contact_person_id == contact_person_id)


def person_name(person: ContactPerson) -> str:
    return (
        " ".join(part for part in (person.first_name, person.last_name) if part) or person.contact_person_id
    )


def with_persons(record: ContactRecord, persons: list[ContactPerson]) -> ContactRecord:
    return msgspec.structs.replace(
        record, contact=msgspec.structs.replace(record.contact, contact_persons=persons)
    )


def _reference_address(detail: AddressDetail) -> Address:
    return Address(address_id=detail.address_id, **{f: getattr(detail, f) for f in _REFERENCE_ADDRESS_FIELDS})


def _required_name(value: str | msgspec.UnsetType | None) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise RequiredField("contact_name is required: send a non-empty customer name.")
    return name
