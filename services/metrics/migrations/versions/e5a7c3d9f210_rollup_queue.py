"""rollup queue: observations stored, their rollups applied later by the rollup worker

No index (see tables.py): a chunk is claimed by a scan and deleted by tuple id.

Revision ID: e5a7c3d9f210
Revises: 3a99e60454ad
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5a7c3d9f210"
down_revision: str | None = "3a99e60454ad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_queue",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("series", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "queued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("rollup_queue", schema="metrics")
