"""Property-based checks: no input makes the server answer 5xx, and valid values round-trip."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CONTACTS, Tenant

FIELDS = ["contact_name", "company_name", "website", "email", "phone", "mobile", "contact_salutation",
          "first_name", "last_name", "twitter", "facebook", "notes", "billing_address", "shipping_address",
          "contact_persons", "custom_fields"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
person_keys = ["contact_person_id", "salutation", "first_name", "email", "can_invite", "is_primary_contact"]
bodies = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(FIELDS, json_values),
        "contact_persons": st.lists(st.dictionaries(st.sampled_from(person_keys), json_values), max_size=3),
        "billing_address": st.dictionaries(st.sampled_from(["address", "city", "zip", "fax"]), json_values),
    },
)
NO_HEALTH = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
counter = itertools.count()


def _is_zoho_error(response: Any) -> bool:
    body = response.json()
    return set(body) == {"code", "message"} and body["code"] != 0 and 400 <= response.status_code < 500


@NO_HEALTH
@given(body=bodies)
def test_any_create_body_is_created_or_refused_cleanly(
    client: Any, tenant: Tenant, body: dict[str, Any]
) -> None:
    if isinstance(body.get("contact_name"), str):
        body["contact_name"] += f" #{next(counter)}"  # names stay unique across examples
    response = client.post(
        CONTACTS, content=json.dumps(body), headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code in (201, 400, 415), response.text
    if response.status_code == 201:
        assert response.json()["contact"]["contact_name"] == body["contact_name"].strip()
    else:
        assert _is_zoho_error(response), response.text


@NO_HEALTH
@given(body=bodies)
def test_any_update_body_is_saved_or_refused_cleanly(
    client: Any, tenant: Tenant, body: dict[str, Any]
) -> None:
    created = client.post(CONTACTS, json={"contact_name": f"Base #{next(counter)}"}, headers=tenant.headers)
    url = f"{CONTACTS}/{created.json()['contact']['contact_id']}"
    if isinstance(body.get("contact_name"), str):
        body["contact_name"] += f" #{next(counter)}"
    response = client.put(
        url, content=json.dumps(body), headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert _is_zoho_error(response)
        assert client.get(url, headers=tenant.headers).json()["contact"] == created.json()["contact"]


names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=150
)


@NO_HEALTH
@given(name=names)
def test_valid_names_round_trip_and_stay_unique_ignoring_case(client: Any, tenant: Tenant, name: str) -> None:
    unique = f"{name} {next(counter)}"
    response = client.post(CONTACTS, json={"contact_name": unique}, headers=tenant.headers)
    if not unique.strip():
        assert response.status_code == 400
        return
    assert response.status_code == 201, response.text
    contact = response.json()["contact"]
    assert contact["contact_name"] == unique.strip()
    fetched = client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).json()["contact"]
    assert fetched == contact
    again = client.post(CONTACTS, json={"contact_name": unique.upper()}, headers=tenant.headers)
    if unique.upper().strip().casefold() == unique.strip().casefold():
        assert (again.status_code, again.json()["code"]) == (400, 3062)


@NO_HEALTH
@given(params=st.dictionaries(st.sampled_from(["page", "per_page", "filter_by", "search_text", "sort_column",
                                               "sort_order", "email_contains", "contact_name_startswith", "phone"]),
                              st.text(st.characters(blacklist_categories=["Cs"]), max_size=12), max_size=4))  # fmt: skip
def test_any_list_query_is_answered_or_refused_cleanly(
    client: Any, tenant: Tenant, params: dict[str, str]
) -> None:
    response = client.get(CONTACTS, params=params, headers=tenant.headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert _is_zoho_error(response)
