"""Pure rules: time format, scopes, list parsing, error translation, settings."""

from __future__ import annotations

import msgspec
import pytest

from zcontacts.api.bodies import decode, decoder_for
from zcontacts.config import Settings
from zcontacts.domain.contacts import mirror_primary
from zcontacts.domain.listing import parse_list_query
from zcontacts.domain.organizations import currency_facts
from zcontacts.domain.schemas import Address, Contact, ContactCreate, ContactPerson
from zcontacts.domain.scopes import Access, canonical_scope, grants
from zcontacts.domain.validation import nul_path, nul_refusal
from zcontacts.domain.zoho_time import format_zoho
from zcontacts.errors import FieldTooLong, InvalidValue, MalformedJSON, RequiredField


def test_zoho_time_format() -> None:
    # 2017-02-28T05:06:40Z is the reference's 10:36:40 in India.
    assert format_zoho(1488258400000, "Asia/Kolkata") == "2017-02-28T10:36:40+0530"
    assert format_zoho(1488258400000, "UTC") == "2017-02-28T05:06:40+0000"
    assert format_zoho(1488258400000, "America/New_York") == "2017-02-28T00:06:40-0500"
    # To the second, milliseconds dropped (rendered once per second and zone): before 1970 too.
    assert format_zoho(1488258400999, "UTC") == "2017-02-28T05:06:40+0000"
    assert format_zoho(-1, "UTC") == "1969-12-31T23:59:59+0000"
    assert format_zoho(-1000, "UTC") == "1969-12-31T23:59:59+0000"
    assert format_zoho(-1001, "UTC") == "1969-12-31T23:59:58+0000"


def test_scopes_accept_both_spellings_and_full_access() -> None:
    def folded(*scopes: str) -> frozenset[str]:
        return frozenset(s.casefold() for s in scopes)

    assert grants(folded("ZohoExpense.customer.CREATE"), Access.CREATE)
    assert grants(folded("ZohoExpense.contacts.READ"), Access.READ)
    assert grants(folded("ZohoExpense.fullaccess.all"), Access.DELETE)
    assert not grants(folded("ZohoExpense.customer.READ"), Access.UPDATE)
    assert not grants(frozenset(), Access.READ)
    assert canonical_scope("zohoexpense.CUSTOMER.read") == "ZohoExpense.customer.READ"
    with pytest.raises(ValueError, match="unknown scope"):
        canonical_scope("ZohoCRM.modules.ALL")


def test_list_query_defaults_and_case_folding() -> None:
    query = parse_list_query(
        [("email_contains", " Ken@X "), ("filter_by", "status.active"), ("sort_order", "d")]
    )
    assert (query.page, query.per_page, query.sort_column) == (1, 200, "contact_name")
    assert (query.applied_filter, query.status, query.sort_order) == ("Status.Active", "active", "D")
    assert query.filters[0].value == "ken@x"
    assert parse_list_query([("page", "3"), ("per_page", "10")]).offset == 20


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        (b'{"contact_name": 1}', InvalidValue, "contact_name: expected a string or null, got an integer"),
        (b'{"contact_persons": [{"email": true}]}', InvalidValue, "contact_persons[0].email"),
        (b'{"custom_fields": [{}]}', RequiredField, "custom_fields[0].customfield_id is required"),
        (b'{"notes": "' + b"x" * 10_001 + b'"}', FieldTooLong, "notes must be at most 10000"),
        (b"[1]", MalformedJSON, "JSON object"),
        (b"{,}", MalformedJSON, "JSON is not well formed"),
        (b'{"contact_name": "a\\u0000"}', InvalidValue, "NUL"),
        (b'{"contact_name": "a\\U0000"}', InvalidValue, "NUL"),  # the check is case-blind, as it always was
    ],
)
def test_decode_errors_name_the_field(raw: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        decode(raw, decoder_for(ContactCreate))
    assert words in str(caught.value)


def test_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    assert decode(b'{"notes": "C:\\\\u0000"}', decoder_for(ContactCreate)).notes == "C:\\u0000"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"contact_name": "A", "notes": "C:\\u0000"}, None),
        ({"notes": "a\x00b"}, "notes"),
        ({"contact_persons": [{"email": "x"}, {"email": "\x00"}]}, "contact_persons[1].email"),
        ({"custom_fields": [{"customfield_id": "1", "value": ["", "\x00"]}]}, "custom_fields[0].value[1]"),
        ({"billing_address": {"ci\x00ty": "x"}}, "billing_address"),  # a key names the object holding it
        ({"\x00": 1}, ""),
        ({"n": 5, "b": True, "z": None, "f": 1.5}, None),
    ],
)
def test_nul_path_names_where_a_decoded_body_holds_a_nul(body: dict[str, object], path: str | None) -> None:
    assert nul_path(body) == path


def test_the_api_and_import_word_a_nul_refusal_alike() -> None:
    assert nul_refusal("notes").message == (
        "Invalid value passed for notes: strings must not contain NUL characters."
    )
    assert nul_refusal("").message == "Invalid value passed: strings must not contain NUL characters."
    with pytest.raises(InvalidValue) as caught:
        decode(b'{"notes": "a\\u0000"}', decoder_for(ContactCreate))
    assert caught.value.message == nul_refusal("notes").message
    with pytest.raises(InvalidValue) as caught:  # a body that is no JSON: named by nothing
        decode(b'{"notes": "a\\u0000"', decoder_for(ContactCreate))
    assert caught.value.message == nul_refusal("").message


def test_mirror_primary() -> None:
    empty = Address(address_id="1")
    contact = Contact("1", "n", "", "", "x", False, "customer", "user", False, False, "9", 0, "Due on Receipt", "2",
                      "USD", "$", 2, "active", "", "", "a", "b", "c", "d", "e", "", "", empty, empty, [], "", [], "t", "t")  # fmt: skip
    assert msgspec.structs.asdict(mirror_primary(contact))["first_name"] == ""
    assert mirror_primary(contact).primary_contact_id == ""
    person = ContactPerson("7", salutation="Dr.", first_name="F", email="e@x.io", is_primary_contact=True)
    mirrored = mirror_primary(msgspec.structs.replace(contact, contact_persons=[ContactPerson("6"), person]))
    assert (mirrored.primary_contact_id, mirrored.contact_salutation, mirrored.first_name, mirrored.email) == (
        "7", "Dr", "F", "e@x.io")  # fmt: skip


def test_currency_facts() -> None:
    assert currency_facts("eur") == ("EUR", "€", 2)
    assert currency_facts("JPY") == ("JPY", "¥", 0)
    assert currency_facts("XYZ") == ("XYZ", "XYZ", 2)
    with pytest.raises(ValueError, match="ISO 4217"):
        currency_facts("dollars")


def test_settings_from_environment_and_overrides() -> None:
    environ = {
        "ZCONTACTS_DATABASE_URL": "sqlite:///x.db",
        "ZCONTACTS_PORT": "9000",
        "ZCONTACTS_AUTO_MIGRATE": "no",
    }
    settings = Settings.from_env(environ, port=None, host="0.0.0.0")
    assert (settings.database_url, settings.port, settings.host, settings.auto_migrate) == ("sqlite:///x.db", 9000,
                                                                                            "0.0.0.0", False)  # fmt: skip
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(ValueError, match="ZCONTACTS_PORT"):
        Settings.from_env({"ZCONTACTS_PORT": "eighty"})


def test_a_customer_over_the_custom_field_cap_keeps_its_fields_changeable() -> None:
    """Customers that grew past 100 custom fields before the cap held across updates can still change the
    values they have; only growing further is refused."""
    from zcontacts.domain.merging import merge_custom_fields
    from zcontacts.domain.schemas import CustomField, CustomFieldIn

    current = [CustomField(customfield_id=str(i), value="v") for i in range(104)]
    changed = merge_custom_fields(current, [CustomFieldIn(customfield_id="5", value="w")])
    assert len(changed) == 104
    assert changed[5].value == "w"
    with pytest.raises(InvalidValue, match="at most 100 custom fields"):
        merge_custom_fields(current, [CustomFieldIn(customfield_id="new", value="x")])
