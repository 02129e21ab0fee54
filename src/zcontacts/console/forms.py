"""Console forms to API bodies: the form's fields become the same JSON body the API takes, decoded by the
same strict decoder, so a console edit is validated exactly like an API call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from zcontacts.api.bodies import decode, decoder_for
from zcontacts.domain.schemas import ContactCreate, ContactRecord, ContactUpdate

CONTACT_FIELDS = ("contact_name", "company_name", "website", "notes")
PERSON_FIELDS = ("contact_salutation", "first_name", "last_name", "email", "phone", "mobile")
ADDRESS_FIELDS = ("attention", "address", "city", "state", "zip", "country")
ADDRESSES = ("billing_address", "shipping_address")
SALUTATIONS = ("", "Mr.", "Mrs.", "Ms.", "Miss", "Dr.")
_CREATE = decoder_for(ContactCreate)
_UPDATE = decoder_for(ContactUpdate)


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """Every known field of a submitted form as text (absent fields empty)."""
    names = [*CONTACT_FIELDS, *PERSON_FIELDS]
    names += [f"{kind}.{field}" for kind in ADDRESSES for field in ADDRESS_FIELDS]
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value.strip() if isinstance(value, str) else ""
    return values


def record_values(record: ContactRecord) -> dict[str, str]:
    """A stored contact as form values (for the edit form)."""
    contact = record.contact
    values = {name: str(getattr(contact, name)) for name in (*CONTACT_FIELDS, *PERSON_FIELDS)}
    primary = next((p for p in contact.contact_persons if p.is_primary_contact), None)
    values["contact_salutation"] = primary.salutation if primary else ""
    for kind, address in (("billing_address", record.billing), ("shipping_address", record.shipping)):
        for field in ADDRESS_FIELDS:
            values[f"{kind}.{field}"] = str(getattr(address, field))
    return values


def _body(values: dict[str, str], *, keep_empty: bool, with_person: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        if values[name] or keep_empty:
            body[name] = values[name]
    if with_person:
        for name in PERSON_FIELDS:
            if values[name] or keep_empty:
                body[name] = values[name]
    for kind in ADDRESSES:
        address = {f: values[f"{kind}.{f}"] for f in ADDRESS_FIELDS if values[f"{kind}.{f}"] or keep_empty}
        if address:
            body[kind] = address
    return body


def create_body(values: dict[str, str]) -> ContactCreate:
    """The create body of a new-customer form (empty fields left out)."""
    return decode(msgspec.json.encode(_body(values, keep_empty=False, with_person=True)), _CREATE)


def update_body(values: dict[str, str], record: ContactRecord) -> ContactUpdate:
    """The update body of an edit form: every field is sent, so emptied fields are cleared. The primary
    person's fields are left out while they are empty and the contact has no person (not to make an empty
    person)."""
    has_person = bool(record.contact.primary_contact_id)
    with_person = has_person or any(values[name] for name in PERSON_FIELDS)
    return decode(msgspec.json.encode(_body(values, keep_empty=True, with_person=with_person)), _UPDATE)
