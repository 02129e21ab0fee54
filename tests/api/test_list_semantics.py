"""Listing means the same on every backend: filters, search and sorts agree with a plain-Python model of the
rules (keys are trimmed and case-folded; equality, prefixes and substrings compare code points; sorting is by
code point, ties by id), for names full of wildcard characters, case-folding traps and non-ASCII text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CONTACTS, Tenant
from zcontacts.domain.listing import FILTER_FIELDS

# LIKE and GLOB wildcards and escapes, characters whose case folding changes length, dotted and dotless i,
# final sigma, accents precomposed and not, astral characters, and names that differ only in case.
NAMES = ["Straße", "STRASSE 2", "strasse 3", "İstanbul", "ıspanak", "Σίσυφος", "σίσυφοσ 2", "Café", "Cafe\u0301",
         "100% Pure", "100_ Pure", "a_b", "a%b", "back\\slash", "[bracket]", "star*", "question?", "Ünïcödé",
         "😀 Smile", "中文 名字", "Zebra", "zebra 2", "apple", "Apple Two", "APPLE three", " spaced ", "ǅemal",
         "ﬁnance", "Ǆ dz", "K Kelvin", "Ω Ohm", "ς end", "plain"]  # fmt: skip
EMAILS = ["a.b@x.co", "A.B+1@X.CO", "straße@ex.de", "100%@ex.com", "under_score@ex.com", ""]
PHONES = ["+1 (555) 010-0000", "555_0100", "", "0044 20 7946", "%%%"]
FIELDS = {"contact_name": "contact_name", "company_name": "company_name", "email": "email", "phone": "phone",
          "first_name": "first_name", "last_name": "last_name"}  # fmt: skip
SORTS = {"contact_name": "contact_name", "company_name": "company_name", "email": "email",
         "created_time": "created_time", "last_modified_time": "last_modified_time"}  # fmt: skip


def key(value: str) -> str:
    """How the server folds a name for comparing."""
    return value.strip().casefold()


@pytest.fixture
def population(client: Any, tenant: Tenant) -> list[dict[str, Any]]:
    """The tricky contacts, created through the API."""
    created = []
    for i, name in enumerate(NAMES):
        body: dict[str, Any] = {"contact_name": name, "company_name": NAMES[(i * 7) % len(NAMES)]}
        email, phone = EMAILS[i % len(EMAILS)], PHONES[i % len(PHONES)]
        if email or phone or i % 3:
            person = {"first_name": NAMES[(i * 5) % len(NAMES)], "last_name": NAMES[(i * 3) % len(NAMES)],
                      "email": email, "phone": phone}  # fmt: skip
            body["contact_persons"] = [person]
        response = client.post(CONTACTS, json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["contact"])
    return created


def _expected(population: list[dict[str, Any]], params: dict[str, str]) -> list[str]:
    rows = population
    for param, value in params.items():
        wanted = key(value)
        if param == "search_text":
            rows = [c for c in rows if any(wanted in key(c[f]) for f in ("contact_name", "company_name", "email",
                                                                          "phone"))]  # fmt: skip
            continue
        for field in FILTER_FIELDS:
            if param == field:
                rows = [c for c in rows if key(c[field]) == wanted]
            elif param == f"{field}_startswith":
                rows = [c for c in rows if key(c[field]).startswith(wanted)]
            elif param == f"{field}_contains":
                rows = [c for c in rows if wanted in key(c[field])]
    column = params.get("sort_column", "contact_name")
    time_sort = column in ("created_time", "last_modified_time")

    def order(contact: dict[str, Any]) -> tuple[Any, int]:
        # Times sort by instant: ids grow with creation here, and creates within a millisecond tie on time.
        return ("" if time_sort else key(contact[column])), int(contact["contact_id"])

    ordered = sorted(rows, key=order, reverse=params.get("sort_order") == "D")
    return [c["contact_id"] for c in ordered]


def _fragments() -> st.SearchStrategy[str]:
    """Pieces of the stored values (in any case), wildcard characters, and arbitrary short text."""
    pieces = [*NAMES, *EMAILS, *PHONES]
    cut = st.sampled_from(pieces).flatmap(
        lambda s: st.tuples(st.integers(0, len(s)), st.integers(0, len(s))).map(
            lambda ab: s[min(ab) : max(ab)]
        )
    )
    cased = cut.flatmap(lambda s: st.sampled_from([s, s.upper(), s.lower(), s.title()]))
    return (
        cased
        | st.sampled_from(["%", "_", "\\", "[", "*", "?", "ss", "SS", "ß", "i̇", "ς", "σ"])
        | st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=3)
    )


queries = st.fixed_dictionaries(
    {},
    optional={
        "search_text": _fragments(),
        "sort_column": st.sampled_from(list(SORTS)),
        "sort_order": st.sampled_from(["A", "D"]),
        **{
            f"{field}{suffix}": _fragments()
            for field in FIELDS
            for suffix in ("", "_startswith", "_contains")
        },
    },
).filter(lambda q: sum(1 for k in q if k not in ("sort_column", "sort_order")) <= 2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=queries)
def test_filters_search_and_sorts_match_the_model(
    client: Any, tenant: Tenant, population: list[dict[str, Any]], params: dict[str, str]
) -> None:
    response = client.get(CONTACTS, params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    got = [c["contact_id"] for c in response.json()["customers"]]
    assert got == _expected(population, params), params


def test_name_order_is_by_code_point_not_by_language(client: Any, tenant: Tenant, population: Any) -> None:
    names = [c["contact_name"] for c in client.get(CONTACTS, headers=tenant.headers).json()["customers"]]
    assert names == sorted(names, key=key)
    # Byte order: "Zebra" < "apple" would be wrong for a dictionary, right for SQLite and "C" collation alike
    # after folding ("apple" < "zebra"); accented and non-Latin names come after ASCII ones.
    assert names.index("apple") < names.index("Zebra") < names.index("Ünïcödé") < names.index("中文 名字")
