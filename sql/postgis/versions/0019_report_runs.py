"""Periodic area-discrepancy reports: each run, its inputs and the alert set it reported (``reports/``).

``report_run`` is one report of one project for one period (``YYYY-MM``): when it was taken, by which engine,
the SHA-256 of the alert set it reported, the versions of the data behind it (package, registry extracts,
flights, the last check) and its summary figures. ``report_item`` is the frozen alert set of a run, one row per
alert with the figures the report prints (claimed and measured floor areas, unit price, money at stake), so that
the same period always gives the same figures and the next period can say what is new, still open or resolved.

Revision ID: 0019
Revises: 0018
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``report_run`` and ``report_item``."""
    op.execute("""
        CREATE TABLE report_run (
            id                  bigserial PRIMARY KEY,
            project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
            period              text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
            engine              text NOT NULL DEFAULT 'local' CHECK (engine IN ('local', 'dask')),
            taken_at            timestamptz NOT NULL DEFAULT now(),
            alert_set_sha256    text NOT NULL CHECK (alert_set_sha256 ~ '^[0-9a-f]{64}$'),
            data_versions       jsonb NOT NULL,
            figures             jsonb NOT NULL,
            previous_run_id     bigint REFERENCES report_run(id) ON DELETE SET NULL,
            superseded          boolean NOT NULL DEFAULT false,
            outputs             jsonb NOT NULL DEFAULT '[]'::jsonb
        );
        CREATE UNIQUE INDEX report_run_current_idx ON report_run (project_id, period) WHERE NOT superseded;
        CREATE INDEX report_run_previous_idx ON report_run (previous_run_id);

        CREATE TABLE report_item (
            run_id                  bigint NOT NULL REFERENCES report_run(id) ON DELETE CASCADE,
            alert_id                bigint NOT NULL,
            rule_code               text NOT NULL,
            severity                text NOT NULL,
            subject_type            text NOT NULL,
            subject_key             text NOT NULL,
            message                 text NOT NULL,
            state                   text NOT NULL,
            verdict                 text,
            firing                  boolean NOT NULL,
            is_open                 boolean NOT NULL,
            assignee                text,
            village_code            text,
            village_name            text,
            household_no            text,
            claimed_floor_area_m2   numeric(14, 2),
            measured_floor_area_m2  numeric(14, 2),
            tolerance_m2            numeric(14, 2),
            discrepancy_m2          numeric(14, 2),
            unit_price_yuan         numeric(16, 2),
            money_at_stake_yuan     numeric(16, 2),
            amount_recovered_yuan   numeric(16, 2) NOT NULL DEFAULT 0,
            first_seen_at           timestamptz NOT NULL,
            evidence                jsonb NOT NULL,
            PRIMARY KEY (run_id, rule_code, subject_type, subject_key)
        );""")


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE IF EXISTS report_item")
    op.execute("DROP TABLE IF EXISTS report_run")
