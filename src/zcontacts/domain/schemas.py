"""msgspec Structs for the wire: request bodies (…In) and responses, fields in the reference's order."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

# Zoho accepts strings, numbers and booleans as custom field values.
CustomValue = str | int | float | bool | None


# Field lengths as Zoho Books documents them (see zoho-contacts-facts.md); the rest are ours, in the README.
# null is accepted wherever a string is and read as "" by the domain.
Name200 = Annotated[str, Meta(max_length=200)] | None
Text25 = Annotated[str, Meta(max_length=25)] | None
Text50 = Annotated[str, Meta(max_length=50)] | None
Text100 = Annotated[str, Meta(max_length=100)] | None
Text255 = Annotated[str, Meta(max_length=255)] | None
Text500 = Annotated[str, Meta(max_length=500)] | None
Text10k = Annotated[str, Meta(max_length=10_000)] | None
IdText = str | int | None

MAX_CONTACT_PERSONS = 100
MAX_CUSTOM_FIELDS = 100


# ---- request bodies -------------------------------------------------------------------------------------


class AddressIn(Struct, kw_only=True):
    """An address in a request; a missing field leaves the stored value alone."""

    address_id: IdText | UnsetType = UNSET  # ignored: the server owns address ids
    attention: Text100 | UnsetType = UNSET
    address: Text500 | UnsetType = UNSET
    street2: Text255 | UnsetType = UNSET
    state_code: Text100 | UnsetType = UNSET
    city: Text100 | UnsetType = UNSET
    state: Text100 | UnsetType = UNSET
    zip: Text50 | UnsetType = UNSET
    country: Text100 | UnsetType = UNSET
    fax: Text50 | UnsetType = UNSET
    phone: Text50 | UnsetType = UNSET


class ContactPersonIn(Struct, kw_only=True):
    """A contact person in a request: with a known id it updates that person, without one it adds a person."""

    contact_person_id: IdText | UnsetType = UNSET
    salutation: Text25 | UnsetType = UNSET
    first_name: Text100 | UnsetType = UNSET
    last_name: Text100 | UnsetType = UNSET
    email: Text100 | UnsetType = UNSET
    phone: Text50 | UnsetType = UNSET
    mobile: Text50 | UnsetType = UNSET
    department: Text50 | UnsetType = UNSET
    designation: Text100 | UnsetType = UNSET
    skype: Text50 | UnsetType = UNSET
    fax: Text50 | UnsetType = UNSET
    can_invite: bool | UnsetType = UNSET
    is_primary_contact: bool | UnsetType = UNSET


class ContactPersonCreate(ContactPersonIn, kw_only=True):
    """POST /contacts/contactpersons: a person for the contact named by `contact_id`."""

    contact_id: str | int


class CustomFieldIn(Struct, kw_only=True):
    """A custom field value, addressed by its id."""

    customfield_id: str | int
    value: CustomValue = None


class ContactUpdate(Struct, kw_only=True):
    """PUT body: every field optional; present fields replace, addresses and persons merge."""

    contact_name: Name200 | UnsetType = UNSET
    company_name: Name200 | UnsetType = UNSET
    website: Text255 | UnsetType = UNSET
    contact_salutation: Text25 | UnsetType = UNSET
    first_name: Text100 | UnsetType = UNSET
    last_name: Text100 | UnsetType = UNSET
    email: Text100 | UnsetType = UNSET
    phone: Text50 | UnsetType = UNSET
    mobile: Text50 | UnsetType = UNSET
    twitter: Text100 | UnsetType = UNSET
    facebook: Text100 | UnsetType = UNSET
    notes: Text10k | UnsetType = UNSET
    billing_address: AddressIn | UnsetType | None = UNSET
    shipping_address: AddressIn | UnsetType | None = UNSET
    contact_persons: (
        Annotated[list[ContactPersonIn], Meta(max_length=MAX_CONTACT_PERSONS)] | UnsetType | None
    ) = UNSET
    custom_fields: Annotated[list[CustomFieldIn], Meta(max_length=MAX_CUSTOM_FIELDS)] | UnsetType | None = (
        UNSET
    )


class ContactCreate(ContactUpdate, kw_only=True):
    """POST body: as an update, but `contact_name` is required (the domain says so by name)."""


# ---- responses ------------------------------------------------------------------------------------------


class Address(Struct):
    """A stored address, keys in the reference's order."""

    address_id: str
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    fax: str = ""
    attention: str = ""


class ContactPerson(Struct):
    """A stored contact person, keys in the reference's order."""

    contact_person_id: str
    salutation: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    department: str = ""
    designation: str = ""
    skype: str = ""
    fax: str = ""
    can_invite: bool = True
    is_primary_contact: bool = False


class AddressDetail(Struct):
    """An address with every field Zoho Books keeps (the address sub-resource's shape)."""

    address_id: str
    attention: str = ""
    address: str = ""
    street2: str = ""
    state_code: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    fax: str = ""
    phone: str = ""


class CustomField(Struct):
    """A stored custom field value."""

    customfield_id: str
    value: CustomValue = None


class Contact(Struct):
    """The full customer object of the reference (GET, POST and PUT responses)."""

    contact_id: str
    contact_name: str
    company_name: str
    website: str
    contact_salutation: str
    has_transaction: bool
    contact_type: str
    source: str
    is_crm_customer: bool
    is_linked_with_zohocrm: bool
    primary_contact_id: str
    payment_terms: int
    payment_terms_label: str
    currency_id: str
    currency_code: str
    currency_symbol: str
    price_precision: int
    status: str
    vat_reg_no: str
    vat_treatment: str
    first_name: str
    last_name: str
    email: str
    phone: str
    mobile: str
    twitter: str
    facebook: str
    billing_address: Address
    shipping_address: Address
    contact_persons: list[ContactPerson]
    notes: str
    custom_fields: list[CustomField]
    created_time: str
    last_modified_time: str


class ContactRecord(Struct):
    """Everything stored about a contact: the reference's object plus what it does not show (the full billing
    and shipping addresses, and additional addresses). `contact` is always derived by domain.contacts.finish."""

    contact: Contact
    billing: AddressDetail
    shipping: AddressDetail
    additional: list[AddressDetail] = msgspec.field(default_factory=list)


class HistoryEntry(Struct):
    """One recorded change of a contact (GET /contacts/{id}/comments)."""

    comment_id: str
    contact_id: str
    contact_name: str
    description: str
    commented_by_id: str
    commented_by: str
    operation_type: str
    changed_fields: list[str]
    date: str
    time: str
    created_time: str


class ListPage(Struct):
    """page_context of the sub-resource lists."""

    page: int
    per_page: int
    has_more_page: bool


class ContactSummary(Struct):
    """One item of the list response, exactly the reference's list example keys."""

    contact_id: str
    contact_name: str
    company_name: str
    contact_type: str
    status: str
    source: str
    is_linked_with_zohocrm: bool
    currency_id: str
    currency_code: str
    first_name: str
    last_name: str
    email: str
    phone: str
    mobile: str
    custom_fields: list[CustomField]
    created_time: str
    last_modified_time: str


class PageContext(Struct, omit_defaults=True):
    """Paging and ordering facts of a list response: the six keys Zoho documents, and `search_text` (the term,
    as matched) only when there is one."""

    page: int
    per_page: int
    has_more_page: bool
    applied_filter: str
    sort_column: str
    sort_order: str
    search_text: str = ""


# ---- envelopes (documentation of the wire; the API splices stored bytes into the same shapes) ----------


class Envelope(Struct):
    """Every response: `code` 0 is success, anything else is an error."""

    code: int
    message: str


class ContactEnvelope(Struct):
    """Response of create, get and update."""

    code: int
    message: str
    contact: Contact


class ContactListEnvelope(Struct):
    """Response of the list call."""

    code: int
    message: str
    customers: list[ContactSummary]
    page_context: PageContext


def summary_of(contact: Contact) -> ContactSummary:
    """The list row of a contact."""
    return ContactSummary(
        contact_id=contact.contact_id,
        contact_name=contact.contact_name,
        company_name=contact.company_name,
        contact_type=contact.contact_type,
        status=contact.status,
        source=contact.source,
        is_linked_with_zohocrm=contact.is_linked_with_zohocrm,
        currency_id=contact.currency_id,
        currency_code=contact.currency_code,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        phone=contact.phone,
        mobile=contact.mobile,
        custom_fields=contact.custom_fields,
        created_time=contact.created_time,
        last_modified_time=contact.last_modified_time,
    )


encode = msgspec.json.Encoder().encode
decode_contact = msgspec.json.Decoder(Contact).decode
decode_record = msgspec.json.Decoder(ContactRecord).decode


class ContactPersonEnvelope(Struct):
    """Response of the contact person calls that return one person."""

    code: int
    message: str
    contact_person: ContactPerson


class ContactPersonListEnvelope(Struct):
    """Response of GET /contacts/{id}/contactpersons."""

    code: int
    message: str
    contact_persons: list[ContactPerson]
    page_context: ListPage


class AddressEnvelope(Struct):
    """Response of the address calls that return one address."""

    code: int
    message: str
    address_info: AddressDetail


class AddressListEnvelope(Struct):
    """Response of GET /contacts/{id}/address."""

    code: int
    message: str
    addresses: list[AddressDetail]


class CommentsEnvelope(Struct):
    """Response of GET /contacts/{id}/comments."""

    code: int
    message: str
    contact_comments: list[HistoryEntry]
    page_context: ListPage
