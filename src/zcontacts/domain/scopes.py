"""OAuth scopes: which scope strings allow which operation on customers."""

from __future__ import annotations

from enum import Enum

FULL_ACCESS = "ZohoExpense.fullaccess.all"


class Access(Enum):
    """The four kinds of access a customers call needs."""

    CREATE = "CREATE"
    READ = "READ"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


# The reference names both `contacts` and `customer` scopes; a token holding either spelling is accepted.
CONTACT_SCOPES: tuple[str, ...] = (
    "ZohoExpense.contacts.CREATE",
    "ZohoExpense.customer.READ",
    "ZohoExpense.customer.UPDATE",
    "ZohoExpense.contacts.DELETE",
)

BOOKS_FULL_ACCESS = "ZohoBooks.fullaccess.all"

# Books clients (the /books/v3 paths) hold ZohoBooks scopes; they are honoured on both prefixes.
KNOWN_SCOPES: tuple[str, ...] = (
    FULL_ACCESS,
    *(f"ZohoExpense.{noun}.{access.value}" for noun in ("contacts", "customer") for access in Access),
    "ZohoExpense.contacts.ALL",
    "ZohoExpense.customer.ALL",
    BOOKS_FULL_ACCESS,
    *(f"ZohoBooks.contacts.{access.value}" for access in Access),
    "ZohoBooks.contacts.ALL",
)

_CANONICAL = {scope.casefold(): scope for scope in KNOWN_SCOPES}


def canonical_scope(scope: str) -> str:
    """The canonical spelling of a known scope (matched ignoring case); raises ValueError otherwise."""
    try:
        return _CANONICAL[scope.strip().casefold()]
    except KeyError:
        raise ValueError(f"unknown scope {scope!r}; known scopes: {', '.join(KNOWN_SCOPES)}") from None


_GRANTING: dict[Access, frozenset[str]] = {
    access: frozenset(
        scope.casefold()
        for scope in (
            FULL_ACCESS,
            f"ZohoExpense.contacts.{access.value}",
            f"ZohoExpense.customer.{access.value}",
            "ZohoExpense.contacts.ALL",
            "ZohoExpense.customer.ALL",
            BOOKS_FULL_ACCESS,
            f"ZohoBooks.contacts.{access.value}",
            "ZohoBooks.contacts.ALL",
        )
    )
    for access in Access
}


def grants(scopes: frozenset[str], access: Access) -> bool:
    """True when a token holding `scopes` (case-folded) may perform `access` on customers."""
    return not _GRANTING[access].isdisjoint(scopes)
