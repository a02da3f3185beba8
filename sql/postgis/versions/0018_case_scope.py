"""Checks on one case at the cost of the case: area functions limited to given ids, household indexes
(``schema_0018_case_scope.sql``).

Revision ID: 0018
Revises: 0017
"""
from pathlib import Path

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

HERE = Path(__file__).resolve().parent.parent


def _run(name: str) -> None:
    sql = (HERE / name).read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def upgrade() -> None:
    """The id-limited area functions, the (project, household) indexes of claims and payments."""
    _run("schema_0018_case_scope.sql")


def downgrade() -> None:
    """Back to the functions of 0007 and 0015; drop the indexes."""
    op.execute("DROP FUNCTION IF EXISTS expro_building_area_metrics(bigint, double precision, double precision, "
               "double precision, text, text, double precision, bigint[])")
    op.execute("DROP FUNCTION IF EXISTS expro_parcel_inside_scope(bigint, bigint[])")
    _run("schema_0007_area_setbased.sql")
    op.execute("DROP INDEX IF EXISTS claim_project_household_no_idx")
    op.execute("DROP INDEX IF EXISTS payment_project_household_no_idx")
