"""publications and latest_levels keep free space in their pages (fillfactor 70)

The rollup worker rewrites each touched post's engagements and each touched series' latest
levels on every chunk; with room on the page those updates are HOT (no index entries: the
publications' five indexes made each engagements update cost ~25 us, half with room).
Existing pages get the room as their rows move (or after a VACUUM FULL).

Revision ID: f1b2c4d6e8a0
Revises: e5a7c3d9f210
Create Date: 2026-11-26 13:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f1b2c4d6e8a0"
down_revision: str | None = "e5a7c3d9f210"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE metrics.publications SET (fillfactor = 70)")
    op.execute("ALTER TABLE metrics.latest_levels SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE metrics.latest_levels RESET (fillfactor)")
    op.execute("ALTER TABLE metrics.publications RESET (fillfactor)")
