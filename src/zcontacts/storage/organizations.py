"""The organizations repository."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select

from zcontacts.domain.organizations import Organization
from zcontacts.storage import ids
from zcontacts.storage.tables import organizations

ORGANIZATION_COLUMNS = (
    organizations.c.organization_id,
    organizations.c.name,
    organizations.c.currency_id,
    organizations.c.currency_code,
    organizations.c.currency_symbol,
    organizations.c.price_precision,
    organizations.c.time_zone,
)


def organization_from_row(row: tuple[object, ...]) -> Organization:
    """An Organization from a row of ORGANIZATION_COLUMNS."""
    organization_id, name, currency_id, code, symbol, precision, time_zone = row
    return Organization(
        organization_id=str(organization_id),
        name=str(name),
        currency_id=str(currency_id),
        currency_code=str(code),
        currency_symbol=str(symbol),
        price_precision=int(str(precision)),
        time_zone=str(time_zone),
    )


class OrganizationsRepo:
    """Organization rows of one connection's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def create(
        self, *, name: str, currency: tuple[str, str, int], time_zone: str, at_ms: int
    ) -> Organization:
        """A new organization with a fresh id and currency id."""
        (organization_id,) = ids.allocate(self.connection, 1, "organization_ids")
        (currency_id,) = ids.allocate(self.connection, 1)
        code, symbol, precision = currency
        self.connection.execute(
            insert(organizations).values(
                organization_id=organization_id,
                name=name,
                currency_id=currency_id,
                currency_code=code,
                currency_symbol=symbol,
                price_precision=precision,
                time_zone=time_zone,
                created_at_ms=at_ms,
            )
        )
        return Organization(
            organization_id=str(organization_id),
            name=name,
            currency_id=str(currency_id),
            currency_code=code,
            currency_symbol=symbol,
            price_precision=precision,
            time_zone=time_zone,
        )

    def get(self, organization_id: str) -> Organization | None:
        """One organization, or None."""
        if not (organization_id.isascii() and organization_id.isdigit()) or len(organization_id) > 18:
            return None
        row = self.connection.execute(
            select(*ORGANIZATION_COLUMNS).where(organizations.c.organization_id == int(organization_id))
        ).first()
        return None if row is None else organization_from_row(tuple(row))

    def all(self) -> list[Organization]:
        """Every organization, oldest first."""
        rows = self.connection.execute(
            select(*ORGANIZATION_COLUMNS).order_by(organizations.c.organization_id)
        )
        return [organization_from_row(tuple(row)) for row in rows]

    def count(self) -> int:
        """How many organizations exist."""
        return int(self.connection.execute(select(func.count()).select_from(organizations)).scalar_one())
