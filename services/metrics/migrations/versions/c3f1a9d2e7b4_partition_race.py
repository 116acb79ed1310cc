"""ensure_observation_partition tolerates a concurrent creator

Two transactions may both miss a month's partition; the second one to take the advisory
lock can still see a stale catalog and try to create it again. The duplicate is now taken
as "created by the other one".

Revision ID: c3f1a9d2e7b4
Revises: b668fd467486
Create Date: 2026-11-26 10:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3f1a9d2e7b4"
down_revision: str | None = "b668fd467486"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENSURE_PARTITION = """
CREATE OR REPLACE FUNCTION metrics.ensure_observation_partition(ts timestamptz)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    month_start timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'observations_y' || to_char(month_start, 'YYYY') || 'm' || to_char(month_start, 'MM');
BEGIN
    IF to_regclass('metrics.' || part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- One creator at a time; the loser finds the partition made by the winner.
    PERFORM pg_advisory_xact_lock(hashtext('metrics.observations.partitions'));
    IF to_regclass('metrics.' || part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- Rows of that month already in the default partition would make CREATE fail:
    -- keep using the default partition for that month rather than refuse the insert.
    IF EXISTS (
        SELECT 1 FROM metrics.observations_default
        WHERE observed_at >= lower_bound AND observed_at < upper_bound
    ) THEN
        RETURN 'observations_default';
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE metrics.%I PARTITION OF metrics.observations '
            'FOR VALUES FROM (%L) TO (%L)',
            part, lower_bound, upper_bound
        );
    EXCEPTION WHEN duplicate_table THEN
        NULL;  -- created by a concurrent transaction that committed meanwhile
    END;
    RETURN part;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(ENSURE_PARTITION)


def downgrade() -> None:
    pass  # the previous body differs only in not catching the duplicate
