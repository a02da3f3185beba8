"""Area-discrepancy SQL functions.

Revision ID: 0002
Revises: 0001
"""
from pathlib import Path

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the functions of ``schema_0002_area.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0002_area.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def downgrade() -> None:
    """Drop the area functions."""
    op.execute("DROP FUNCTION IF EXISTS expro_parcel_inside_scope(bigint)")
    op.execute("DROP FUNCTION IF EXISTS expro_building_area_metrics(bigint, double precision, double precision, "
               "double precision, text, text, double precision)")
    op.execute("DROP FUNCTION IF EXISTS expro_covered(geometry, bigint, text, text)")
