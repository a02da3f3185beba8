"""Cases and stages, the captures of the mandatory archive, reviews, reassignments, the quantity record,
generated documents, API payments and public complaints (``schema_0015_cases.sql``).

Revision ID: 0015
Revises: 0014
"""
from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("complaint", "case_payment", "case_document", "case_quantity", "stage_reassignment", "stage_review",
          "case_capture", "case_stage", "case_file")


def _run(name: str) -> None:
    sql = (Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def upgrade() -> None:
    """Create the tables, the household-subjects function and the wider alert_household view."""
    _run("schema_0015_cases.sql")


def downgrade() -> None:
    """Restore round 1's alert_household view and drop the case tables."""
    _run("schema_0006_alert_routing.sql")
    op.execute("DROP FUNCTION IF EXISTS expro_household_subjects(bigint, text)")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("ALTER TABLE project DROP COLUMN IF EXISTS case_config")
