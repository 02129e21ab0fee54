"""The list call's query: parsed and validated here, turned into SQL by the storage layer."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from zcontacts.errors import FieldTooLong, InvalidValue

FILTER_FIELDS = ("contact_name", "company_name", "email", "phone", "first_name", "last_name")
# Books also sorts by the primary person's first or last name. Not offered: with no index holding the status
# too, a rare status in those orders walks every row (2-7 s over a million), and two more indexes cost every write.
SORT_COLUMNS = ("contact_name", "company_name", "email", "created_time", "last_modified_time")
STATUS_FILTERS = {"Status.All": None, "Status.Active": "active", "Status.Inactive": "inactive"}
# Books' other views, which hold no contact here: no contact is linked to Zoho CRM, and names are unique, so
# none is a duplicate. Answered with an empty page rather than refused, as Books answers an empty view.
EMPTY_FILTERS = ("Status.Duplicate", "Status.Crm")
# Books' contact_type: every contact here is a customer.
CONTACT_TYPES = ("customer", "vendor")
MAX_PER_PAGE = 200
MAX_FILTER_LENGTH = 100
SEARCH_SEPARATOR = "\x1f"
_OPERATORS = {"": "eq", "_startswith": "startswith", "_contains": "contains"}
_FILTER_PARAMS = {
    f"{field}{suffix}": (field, op) for field in FILTER_FIELDS for suffix, op in _OPERATORS.items()
}
_OTHER_PARAMS = frozenset(
    {
        "page",
        "per_page",
        "filter_by",
        "search_text",
        "sort_column",
        "sort_order",
        "organization_id",
        "contact_type",
    }
)
KNOWN_PARAMS = _OTHER_PARAMS | _FILTER_PARAMS.keys()


class FieldFilter(msgspec.Struct, frozen=True):
    """One name/email/phone filter: `value` is already case-folded."""

    field: str
    op: str  # eq | startswith | contains
    value: str


class ListQuery(msgspec.Struct, frozen=True):
    """A validated list request."""

    page: int = 1
    per_page: int = MAX_PER_PAGE
    applied_filter: str = "Status.All"
    status: str | None = None
    search_text: str = ""
    filters: tuple[FieldFilter, ...] = ()
    sort_column: str = "contact_name"
    sort_order: str = "A"
    # A view that cannot hold a contact (a vendor listing, Books' CRM and duplicate views): an empty page.
    matches_nothing: bool = False

    @property
    def offset(self) -> int:
        """Rows skipped before this page."""
        return (self.page - 1) * self.per_page


def parse_list_query(params: Iterable[tuple[str, str]]) -> ListQuery:
    """Validate the list call's query parameters; anything unknown is refused rather than ignored, since a
    silently dropped filter hands a sync job the wrong customers."""
    values: dict[str, str] = {}
    for key, value in params:
        if key not in KNOWN_PARAMS:
            raise InvalidValue(
                f"Invalid query parameter {shown(key)}. Known parameters: page, per_page, filter_by, "
                "search_text, sort_column, sort_order, contact_type, and contact_name, company_name, email, "
                "phone, first_name, last_name (each also with _startswith and _contains)."
            )
        values[key] = value
    page = _positive_int(values, "page", 1)
    per_page = _positive_int(values, "per_page", MAX_PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise InvalidValue(f"Invalid value passed for per_page: at most {MAX_PER_PAGE} customers per page.")
    applied_filter = values.get("filter_by", "Status.All")
    matched = {k.casefold(): k for k in (*STATUS_FILTERS, *EMPTY_FILTERS)}.get(applied_filter.casefold())
    if matched is None:
        allowed = ", ".join((*STATUS_FILTERS, *EMPTY_FILTERS))
        raise InvalidValue(f"Invalid value passed for filter_by: use one of {allowed}.")
    contact_type = values.get("contact_type", "customer").strip().casefold()
    if contact_type not in CONTACT_TYPES:
        raise InvalidValue(f"Invalid value passed for contact_type: use one of {', '.join(CONTACT_TYPES)}.")
    sort_column = values.get("sort_column", "contact_name")
    if sort_column not in SORT_COLUMNS:
        raise InvalidValue(f"Invalid value passed for sort_column: use one of {', '.join(SORT_COLUMNS)}.")
    sort_order = values.get("sort_order", "A").upper()
    if sort_order not in ("A", "D"):
        raise InvalidValue("Invalid value passed for sort_order: use A (ascending) or D (descending).")
    filters = []
    for key, (field, op) in _FILTER_PARAMS.items():
        if key in values:
            filters.append(FieldFilter(field=field, op=op, value=_filter_text(key, values[key])))
    return ListQuery(
        page=page,
        per_page=per_page,
        applied_filter=matched,
        status=STATUS_FILTERS.get(matched),
        search_text=_filter_text("search_text", values.get("search_text", "")),
        filters=tuple(filters),
        sort_column=sort_column,
        sort_order=sort_order,
        matches_nothing=matched in EMPTY_FILTERS or contact_type != "customer",
    )


def _positive_int(values: dict[str, str], key: str, default: int) -> int:
    raw = values.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise InvalidValue(f"Invalid value passed for {key}: use a whole number from 1.")
    return int(raw)


def _filter_text(key: str, value: str) -> str:
    if len(value) > MAX_FILTER_LENGTH:
        raise FieldTooLong(f"{key} must be at most {MAX_FILTER_LENGTH} characters long.")
    if SEARCH_SEPARATOR in value or "\x00" in value:
        raise InvalidValue(f"Invalid value passed for {key}: control characters are not allowed.")
    return value.strip().casefold()


def shown(name: str) -> str:
    """A client's parameter name as an error message quotes it: cut short, since it may be any length."""
    return repr(name) if len(name) <= 60 else repr(name[:60]) + "…"
