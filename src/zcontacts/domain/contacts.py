"""Customer rules: build a contact from a create body, merge an update into one, change its status, persons
and addresses, and keep the contact consistent (`finish`: the primary person's fields mirrored, the addresses
projected). Every change is saved through `_save`, which also records it in the contact's history. Storage is
reached only through the ContactStore protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec
from msgspec import UNSET

from zcontacts.domain.organizations import Organization
from zcontacts.domain.schemas import (
    MAX_CONTACT_PERSONS,
    Address,
    AddressDetail,
    AddressIn,
    Contact,
    ContactCreate,
    ContactPerson,
    ContactPersonCreate,
    ContactPersonIn,
    ContactRecord,
    ContactUpdate,
    CustomField,
    CustomFieldIn,
)
from zcontacts.domain.validation import check_email, check_salutation, validate_body
from zcontacts.domain.zoho_time import format_zoho
from zcontacts.errors import DuplicateName, InvalidValue, NotFound, RequiredField

# Fields of the contact that mirror its primary contact person.
_PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "mobile")
_ADDRESS_FIELDS = tuple(f for f in AddressDetail.__struct_fields__ if f != "address_id")
_REFERENCE_ADDRESS_FIELDS = tuple(f for f in Address.__struct_fields__ if f != "address_id")
MAX_ADDITIONAL_ADDRESSES = 50


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

    def replace(self, organization_id: str, record: ContactRecord, at_ms: int) -> None:
        """Store a new state of an existing contact and its rows."""
        ...

    def delete(self, organization_id: str, contact_id: str) -> bool:
        """Remove a contact and its rows; False when there was none."""
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
    needs_auto_person = not persons_in and _any_person_field(body)
    ids = iter(store.allocate_ids(3 + len(persons_in) + int(needs_auto_person)))
    contact_id, billing_id, shipping_id = str(next(ids)), str(next(ids)), str(next(ids))
    persons = [_merge_person(ContactPerson(contact_person_id=str(next(ids))), p) for p in persons_in]
    _settle_primary(persons, marked=[i for i, p in enumerate(persons_in) if p.is_primary_contact is True])
    if needs_auto_person:
        persons.append(ContactPerson(contact_person_id=str(next(ids)), is_primary_contact=True))
    stamp_text = format_zoho(stamp.at_ms, org.time_zone)
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
        billing_address=Address(address_id=billing_id),
        shipping_address=Address(address_id=shipping_id),
        contact_persons=_apply_person_fields(persons, body),
        notes=_text(body.notes),
        custom_fields=_merge_custom_fields([], body.custom_fields),
        created_time=stamp_text,
        last_modified_time=stamp_text,
    )
    record = ContactRecord(
        contact=contact,
        billing=_merge_address(AddressDetail(address_id=billing_id), body.billing_address),
        shipping=_merge_address(AddressDetail(address_id=shipping_id), body.shipping_address),
    )
    return _save(store, org, None, record, stamp, "created", "Customer created")


def update_contact(
    store: ContactStore, org: Organization, contact_id: str, body: ContactUpdate, stamp: Stamp
) -> ContactRecord:
    """Merge an update body into the stored contact: present fields replace, addresses merge field by field,
    persons merge by id (new ones are added, unmentioned ones stay); created_time never changes."""
    current = _load(store, org, contact_id)
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
            changes[field] = _text(value)
    if body.custom_fields is not UNSET:
        changes["custom_fields"] = _merge_custom_fields(current.contact.custom_fields, body.custom_fields)
    persons = _merge_persons(store, current.contact.contact_persons, body.contact_persons or [])
    if not any(p.is_primary_contact for p in persons) and _any_person_field(body):
        new_id = str(store.allocate_ids(1)[0])
        persons.append(ContactPerson(contact_person_id=new_id, is_primary_contact=True))
    changes["contact_persons"] = _apply_person_fields(persons, body)
    record = msgspec.structs.replace(
        current,
        contact=msgspec.structs.replace(current.contact, **changes),
        billing=_merge_address(current.billing, body.billing_address),
        shipping=_merge_address(current.shipping, body.shipping_address),
    )
    return _save(store, org, current, record, stamp, "updated", "Customer updated")


def delete_contact(store: ContactStore, org: Organization, contact_id: str, stamp: Stamp) -> None:
    """Delete a contact with its persons, addresses and custom fields; its history stays for operators."""
    current = _load(store, org, contact_id)
    store.delete(org.organization_id, contact_id)
    store.record_change(
        org.organization_id,
        Change(contact_id, current.contact.contact_name, "deleted", "Customer deleted", [], stamp),
    )


def set_status(
    store: ContactStore, org: Organization, contact_id: str, status: str, stamp: Stamp
) -> ContactRecord:
    """Mark a contact active or inactive (a no-op, and no history entry, when it already is)."""
    current = _load(store, org, contact_id)
    if current.contact.status == status:
        return current
    record = msgspec.structs.replace(current, contact=msgspec.structs.replace(current.contact, status=status))
    return _save(store, org, current, record, stamp, f"marked_{status}", f"Marked as {status}")


# ---- contact persons ------------------------------------------------------------------------------------


def add_person(
    store: ContactStore, org: Organization, body: ContactPersonCreate, stamp: Stamp
) -> tuple[ContactRecord, ContactPerson]:
    """Add a person to the contact named in the body; it becomes primary when marked so or when it is the
    contact's first person."""
    _check_person("", body)
    if not isinstance(body.first_name, str) or not body.first_name.strip():
        raise RequiredField("first_name is required.")
    current = _load(store, org, str(body.contact_id), "contact_id")
    persons = list(current.contact.contact_persons)
    if len(persons) >= MAX_CONTACT_PERSONS:
        raise InvalidValue(f"A customer can have at most {MAX_CONTACT_PERSONS} contact persons.")
    person = _merge_person(ContactPerson(contact_person_id=str(store.allocate_ids(1)[0])), body)
    persons.append(person)
    _settle_primary(persons, marked=[len(persons) - 1] if body.is_primary_contact is True else [])
    record = _with_persons(current, persons)
    saved = _save(
        store, org, current, record, stamp, "person_added", f"Contact person {_person_name(person)} added"
    )
    return saved, _person(saved, person.contact_person_id)


def update_person(
    store: ContactStore, org: Organization, contact_person_id: str, body: ContactPersonIn, stamp: Stamp
) -> tuple[ContactRecord, ContactPerson]:
    """Update one person field by field; `is_primary_contact: true` makes it the primary person."""
    _check_person("", body)
    current = _load_by_person(store, org, contact_person_id)
    persons = list(current.contact.contact_persons)
    slot = next(i for i, p in enumerate(persons) if p.contact_person_id == contact_person_id)
    persons[slot] = _merge_person(persons[slot], body)
    _settle_primary(persons, marked=[slot] if body.is_primary_contact is True else [])
    record = _with_persons(current, persons)
    description = f"Contact person {_person_name(persons[slot])} updated"
    saved = _save(store, org, current, record, stamp, "person_updated", description)
    return saved, _person(saved, contact_person_id)


def delete_person(
    store: ContactStore, org: Organization, contact_person_id: str, stamp: Stamp
) -> ContactRecord:
    """Remove a person; when it was primary, the first remaining person becomes primary."""
    current = _load_by_person(store, org, contact_person_id)
    removed = _person(current, contact_person_id)
    persons = [p for p in current.contact.contact_persons if p.contact_person_id != contact_person_id]
    _settle_primary(persons, marked=[])
    record = _with_persons(current, persons)
    description = f"Contact person {_person_name(removed)} deleted"
    return _save(store, org, current, record, stamp, "person_deleted", description)


def mark_primary(
    store: ContactStore, org: Organization, contact_person_id: str, stamp: Stamp
) -> ContactRecord:
    """Make one person the contact's primary person."""
    current = _load_by_person(store, org, contact_person_id)
    persons = list(current.contact.contact_persons)
    slot = next(i for i, p in enumerate(persons) if p.contact_person_id == contact_person_id)
    _settle_primary(persons, marked=[slot])
    record = _with_persons(current, persons)
    description = f"Contact person {_person_name(persons[slot])} marked as primary"
    return _save(store, org, current, record, stamp, "primary_changed", description)


# ---- addresses ------------------------------------------------------------------------------------------


def addresses_of(record: ContactRecord) -> list[AddressDetail]:
    """Billing, shipping, then the additional addresses."""
    return [record.billing, record.shipping, *record.additional]


def add_address(
    store: ContactStore, org: Organization, contact_id: str, body: AddressIn, stamp: Stamp
) -> tuple[ContactRecord, AddressDetail]:
    """Add an address beside billing and shipping."""
    current = _load(store, org, contact_id)
    if len(current.additional) >= MAX_ADDITIONAL_ADDRESSES:
        raise InvalidValue(f"A customer can have at most {MAX_ADDITIONAL_ADDRESSES} additional addresses.")
    address = _merge_address(AddressDetail(address_id=str(store.allocate_ids(1)[0])), body)
    record = msgspec.structs.replace(current, additional=[*current.additional, address])
    saved = _save(store, org, current, record, stamp, "address_added", "Address added")
    return saved, address


def update_address(
    store: ContactStore, org: Organization, contact_id: str, address_id: str, body: AddressIn, stamp: Stamp
) -> tuple[ContactRecord, AddressDetail]:
    """Update any of the contact's addresses (billing, shipping or additional) field by field."""
    current = _load(store, org, contact_id)
    if current.billing.address_id == address_id:
        record = msgspec.structs.replace(current, billing=_merge_address(current.billing, body))
    elif current.shipping.address_id == address_id:
        record = msgspec.structs.replace(current, shipping=_merge_address(current.shipping, body))
    elif any(a.address_id == address_id for a in current.additional):
        additional = [
            _merge_address(a, body) if a.address_id == address_id else a for a in current.additional
        ]
        record = msgspec.structs.replace(current, additional=additional)
    else:
        raise NotFound("Address does not exist.")
    saved = _save(store, org, current, record, stamp, "address_updated", "Address updated")
    return saved, next(a for a in addresses_of(saved) if a.address_id == address_id)


def delete_address(
    store: ContactStore, org: Organization, contact_id: str, address_id: str, stamp: Stamp
) -> ContactRecord:
    """Delete an additional address; billing and shipping always exist (clear their fields instead)."""
    current = _load(store, org, contact_id)
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
    return _save(store, org, current, record, stamp, "address_deleted", "Address deleted")


# ---- the one place a contact is made consistent and saved -----------------------------------------------


def finish(record: ContactRecord) -> ContactRecord:
    """The rules every stored contact obeys: its primary_contact_id, salutation, names, email and phones are its
    primary person's (empty when it has none), and its billing/shipping objects show the stored addresses."""
    contact = record.contact
    primary = next((p for p in contact.contact_persons if p.is_primary_contact), None)
    if primary is None:
        mirrored: dict[str, object] = {"primary_contact_id": "", "contact_salutation": ""}
        mirrored.update(dict.fromkeys(_PERSON_FIELDS, ""))
    else:
        mirrored = {
            "primary_contact_id": primary.contact_person_id,
            "contact_salutation": primary.salutation.rstrip("."),
        }
        mirrored.update({field: getattr(primary, field) for field in _PERSON_FIELDS})
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


def _save(
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
        store.replace(org.organization_id, record, stamp.at_ms)
    if changed and operation == "updated":
        description = f"{description}: {', '.join(changed)}"
    store.record_change(
        org.organization_id,
        Change(
            record.contact.contact_id, record.contact.contact_name, operation, description, changed, stamp
        ),
    )
    return record


# ---- helpers --------------------------------------------------------------------------------------------


def _load(store: ContactStore, org: Organization, contact_id: str, field: str = "") -> ContactRecord:
    record = store.load_for_update(org.organization_id, contact_id) if contact_id.isdigit() else None
    if record is None:
        if field:
            raise InvalidValue(
                f"Invalid value passed for {field}: no customer {contact_id} in this organization."
            )
        raise NotFound()
    return record


def _load_by_person(store: ContactStore, org: Organization, contact_person_id: str) -> ContactRecord:
    contact_id = store.contact_of_person(org.organization_id, contact_person_id)
    record = store.load_for_update(org.organization_id, contact_id) if contact_id else None
    if record is None:
        raise NotFound("Contact person does not exist.")
    return record


def _person(record: ContactRecord, contact_person_id: str) -> ContactPerson:
    return next(p for p in record.contact.contact_persons if p.contact_person_id == contact_person_id)


def _person_name(person: ContactPerson) -> str:
    return (
        " ".join(part for part in (person.first_name, person.last_name) if part) or person.contact_person_id
    )


def _with_persons(record: ContactRecord, persons: list[ContactPerson]) -> ContactRecord:
    return msgspec.structs.replace(
        record, contact=msgspec.structs.replace(record.contact, contact_persons=persons)
    )


def _reference_address(detail: AddressDetail) -> Address:
    return Address(address_id=detail.address_id, **{f: getattr(detail, f) for f in _REFERENCE_ADDRESS_FIELDS})


def _text(value: str | msgspec.UnsetType | None) -> str:
    return value if isinstance(value, str) else ""


def _required_name(value: str | msgspec.UnsetType | None) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise RequiredField("contact_name is required: send a non-empty customer name.")
    return name


def _merge_address(current: AddressDetail, given: AddressIn | msgspec.UnsetType | None) -> AddressDetail:
    if not isinstance(given, AddressIn):
        return current
    changes = {
        field: _text(value) for field in _ADDRESS_FIELDS if (value := getattr(given, field)) is not UNSET
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


def _check_person(prefix: str, person: ContactPersonIn) -> None:
    check_salutation(f"{prefix}salutation", person.salutation)
    check_email(f"{prefix}email", person.email)
