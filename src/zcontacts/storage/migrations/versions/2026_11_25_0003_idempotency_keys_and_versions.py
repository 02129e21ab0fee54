"""idempotency keys and contact row versions

Revision ID: 0003
Revises: perf1
Create Date: 2026-11-25 11:00:00.000000

`idempotency_keys` keeps the reply to a POST/PUT sent with an `Idempotency-Key` header, written in the same
transaction as the change it replays, so a retry gets the first reply instead of making the change twice. Rows
older than 24 hours are ignored and purged as new keys arrive. `contacts.version` counts a contact's writes:
its `ETag`, which `If-Match` compares inside the write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "perf1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=300), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("response_headers", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "idempotency_key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_organization_id_created_at_ms"),
        "idempotency_keys",
        ["organization_id", "created_at_ms"],
    )
    op.add_column("contacts", sa.Column("version", sa.BigInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("contacts", "version")
    op.drop_index(op.f("ix_idempotency_keys_organization_id_created_at_ms"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
