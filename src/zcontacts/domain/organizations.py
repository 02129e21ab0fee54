"""Organizations: the tenant every customer belongs to, with the currency its customers inherit."""

from __future__ import annotations

import msgspec

from zcontacts.domain.zoho_time import zone

# ISO 4217 code → (symbol, precision) for the currencies people ask for most; others get their code as symbol.
CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2), "EUR": ("€", 2), "GBP": ("£", 2), "INR": ("₹", 2), "JPY": ("¥", 0), "CNY": ("¥", 2),
    "AUD": ("$", 2), "CAD": ("$", 2), "NZD": ("$", 2), "SGD": ("$", 2), "HKD": ("$", 2), "CHF": ("CHF", 2),
    "SEK": ("kr", 2), "NOK": ("kr", 2), "DKK": ("kr", 2), "ZAR": ("R", 2), "BRL": ("R$", 2), "MXN": ("$", 2),
    "AED": ("AED", 2), "SAR": ("SAR", 2), "KRW": ("₩", 0), "KWD": ("KWD", 3), "BHD": ("BHD", 3),
}  # fmt: skip

DEFAULT_CURRENCY = "USD"
DEFAULT_TIME_ZONE = "Asia/Kolkata"


class Organization(msgspec.Struct, frozen=True):
    """A tenant as the API needs it on every request."""

    organization_id: str
    name: str
    currency_id: str
    currency_code: str
    currency_symbol: str
    price_precision: int
    time_zone: str


def currency_facts(code: str) -> tuple[str, str, int]:
    """Validated (code, symbol, precision) for an ISO 4217 currency code."""
    normalized = code.strip().upper()
    if len(normalized) != 3 or not normalized.isalpha():
        raise ValueError(f"invalid currency code {code!r}: use a three-letter ISO 4217 code such as USD")
    symbol, precision = CURRENCIES.get(normalized, (normalized, 2))
    return normalized, symbol, precision


def check_time_zone(name: str) -> str:
    """`name` if it is a known IANA time zone; raises ValueError otherwise."""
    zone(name)
    return name
