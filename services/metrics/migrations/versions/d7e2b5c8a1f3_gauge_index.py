"""rollups: a partial index for gauges instead of a full (metric, day) index

The full index on (workspace_id, metric, day) made the planner probe it instead of the
primary key in the rollup maintenance (a scan of every series of a metric per probe).

Revision ID: d7e2b5c8a1f3
Revises: c3f1a9d2e7b4
Create Date: 2026-11-26 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7e2b5c8a1f3"
down_revision: str | None = "c3f1a9d2e7b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(
        "ix_daily_rollups_workspace_id_metric_day", table_name="daily_rollups", schema="metrics"
    )
    op.create_index(
        "ix_daily_rollups_gauges",
        "daily_rollups",
        ["workspace_id", "metric", "day"],
        unique=False,
        schema="metrics",
        postgresql_where=sa.text("metric IN ('followers', 'completion_rate')"),
    )


def downgrade() -> None:
    op.drop_index("ix_daily_rollups_gauges", table_name="daily_rollups", schema="metrics")
    op.create_index(
        "ix_daily_rollups_workspace_id_metric_day",
        "daily_rollups",
        ["workspace_id", "metric", "day"],
        unique=False,
        schema="metrics",
    )
