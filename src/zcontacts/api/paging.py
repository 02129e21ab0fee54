"""page and per_page of the sub-resource lists (nothing else is accepted there)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from zcontacts.domain.listing import MAX_PER_PAGE, shown
from zcontacts.errors import InvalidValue

_ALLOWED = frozenset({"page", "per_page", "organization_id"})


def page_of(request: Request[Any, Any, Any]) -> tuple[int, int]:
    """(page, per_page) from the query; unknown parameters are refused like on the customer list."""
    params = request.query_params
    for key in params:
        if key not in _ALLOWED:
            raise InvalidValue(f"Invalid query parameter {shown(key)}. Known parameters: page, per_page.")
    return _number(params.get("page"), "page", 1), _bounded(
        _number(params.get("per_page"), "per_page", MAX_PER_PAGE)
    )


def _number(raw: str | None, key: str, default: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise InvalidValue(f"Invalid value passed for {key}: use a whole number from 1.")
    return int(raw)


def _bounded(per_page: int) -> int:
    if per_page > MAX_PER_PAGE:
        raise InvalidValue(f"Invalid value passed for per_page: at most {MAX_PER_PAGE} items per page.")
    return per_page
