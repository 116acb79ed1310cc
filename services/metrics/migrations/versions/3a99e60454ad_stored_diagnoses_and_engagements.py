"""stored diagnoses and engagements

Posts' engagements so far (the report's ranking value) on `publications`, backfilled from
the latest levels; the stored diagnosis of each checkpoint snapshot (NULL: the report
recomputes it until the analyst stores it).

Revision ID: 3a99e60454ad
Revises: d7e2b5c8a1f3
Create Date: 2026-11-26 10:28:39.105038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3a99e60454ad"
down_revision: str | None = "d7e2b5c8a1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkpoint_snapshots",
        sa.Column("findings", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="metrics",
    )
    op.add_column(
        "publications", sa.Column("engagements", sa.Float(), nullable=True), schema="metrics"
    )
    op.execute(
        """
        UPDATE metrics.publications p SET engagements = e.total
        FROM (
            SELECT workspace_id, substr(series, 3) AS publication_id, sum(level) AS total
            FROM metrics.latest_levels
            WHERE series LIKE 'p:%' AND metric IN ('likes', 'comments', 'shares', 'saves')
            GROUP BY workspace_id, series
        ) e
        WHERE p.workspace_id = e.workspace_id AND p.publication_id = e.publication_id
        """
    )


def downgrade() -> None:
    op.drop_column("publications", "engagements", schema="metrics")
    op.drop_column("checkpoint_snapshots", "findings", schema="metrics")
