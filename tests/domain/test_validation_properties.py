"""Property-based tests (hypothesis) of the validation rules, on the decoder and rules the API uses (no
database): lengths, salutations, emails, NUL, the single primary person, and that every refusal is a 4xx
ZohoError naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zcontacts.api.bodies import decode, decoder_for
from zcontacts.domain.schemas import ContactCreate
from zcontacts.domain.validation import SALUTATIONS, validate_body
from zcontacts.errors import FieldTooLong, InvalidValue, ZohoError

CREATE = decoder_for(ContactCreate)
FAST = settings(max_examples=150, deadline=None)
# (where in the body, its limit) for a sample of every kind of text field.
LIMITS = [
    (("contact_name",), 200),
    (("company_name",), 200),
    (("website",), 255),
    (("twitter",), 100),
    (("notes",), 10_000),
    (("billing_address", "address"), 500),
    (("shipping_address", "zip"), 50),
    (("contact_persons", 0, "first_name"), 100),
    (("contact_persons", 0, "department"), 50),
    (("contact_persons", 0, "salutation"), 25),
]
no_nul_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))


def _body_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contact_name": "Base"}
    node: Any = body
    for step, following in zip(path, [*path[1:], None], strict=True):
        if following is None:
            node[step] = value
        elif isinstance(following, int):
            node = node.setdefault(step, [{}])
        elif isinstance(step, int):
            node = node[step]
        else:
            node = node.setdefault(step, {})
    return body


def _check(body: dict[str, Any]) -> None:
    validate_body(decode(json.dumps(body).encode(), CREATE), creating=True)


def _where(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@pytest.mark.parametrize(("path", "limit"), LIMITS)
@FAST
@given(data=st.data())
def test_lengths_up_to_the_limit_pass_and_beyond_it_are_refused_naming_the_field(
    path: tuple[Any, ...], limit: int, data: st.DataObject
) -> None:
    size = data.draw(st.integers(min_value=max(0, limit - 3), max_value=limit + 3))
    char = data.draw(st.characters(exclude_characters="\x00", exclude_categories=("Cs", "Z", "C")))
    value = char * size
    if path == ("contact_persons", 0, "salutation") and size <= limit:
        return  # salutations have their own rule below
    body = _body_with(path, value)
    if size <= limit:
        _check(body)
    else:
        with pytest.raises(FieldTooLong) as refused:
            _check(body)
        assert _where(path) in refused.value.message
        assert refused.value.status == 400


@FAST
@given(value=no_nul_text)
def test_a_salutation_is_accepted_exactly_when_it_is_a_known_one(value: str) -> None:
    bare = value[:-1] if value.endswith(".") else value
    known = value == "" or bare.casefold() in {s.casefold() for s in SALUTATIONS}
    body = {"contact_name": "A", "contact_persons": [{"salutation": value[:25]}]}
    if len(value) > 25:
        return
    if known:
        _check(body)
    else:
        with pytest.raises(InvalidValue, match=r"contact_persons\[0\]\.salutation"):
            _check(body)


# A local part is dot-separated words with no empty one; a domain label has no dot and no "-" at either end.
word = st.text(st.characters(exclude_characters="@. \t\r\n\x00\x0b\x0c", exclude_categories=("Cs", "Z", "C")), min_size=1, max_size=8)  # fmt: skip
local = st.lists(word, min_size=1, max_size=3).map(".".join)
label = st.text(st.characters(exclude_characters="@. \t\r\n\x00", exclude_categories=("Cs", "Z", "C")), min_size=1, max_size=10).filter(lambda v: v[0] != "-" and v[-1] != "-")  # fmt: skip


@FAST
@given(user=local, domain=label, tld=label)
def test_well_formed_emails_are_accepted(user: str, domain: str, tld: str) -> None:
    email = f"{user}@{domain}.{tld}"
    if len(email) <= 100:
        _check({"contact_name": "A", "email": email, "contact_persons": [{"email": email}]})


@FAST
@given(value=st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=100).filter(lambda v: v != "" and ("@" not in v or any(c.isspace() for c in v))))  # fmt: skip
def test_emails_without_an_at_sign_or_with_spaces_are_refused(value: str) -> None:
    with pytest.raises(InvalidValue, match="email"):
        _check({"contact_name": "A", "email": value})


@FAST
@given(marks=st.lists(st.booleans() | st.none(), max_size=8))
def test_at_most_one_primary_person(marks: list[bool | None]) -> None:
    body = {
        "contact_name": "A",
        "contact_persons": [{"is_primary_contact": m} if m is not None else {} for m in marks],
    }
    if sum(m is True for m in marks) <= 1:
        _check(body)
    else:
        with pytest.raises(InvalidValue, match="only one contact person"):
            _check(body)


@FAST
@given(path=st.sampled_from([p for p, _ in LIMITS]), before=no_nul_text, after=no_nul_text)
def test_nul_anywhere_is_refused(path: tuple[Any, ...], before: str, after: str) -> None:
    with pytest.raises(InvalidValue, match="NUL"):
        _check(_body_with(path, f"{before[:5]}\x00{after[:5]}"))


@FAST
@given(body=st.dictionaries(st.sampled_from(["contact_name", "notes", "contact_persons", "billing_address", "custom_fields"]),
                            st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                                         lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                                         max_leaves=8)))  # fmt: skip
def test_any_json_object_is_accepted_or_refused_with_a_4xx_zoho_error(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    refused: ZohoError | None = None
    try:
        validate_body(decode(raw, CREATE), creating=True)
    except ZohoError as exc:
        refused = exc
    if refused is not None:
        assert 400 <= refused.status < 500
        assert refused.code != 0
        assert refused.message
