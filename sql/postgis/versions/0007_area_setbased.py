"""Set-based area functions; joins the imagery (0003) and registry (0004..0006) branches.

Revision ID: 0007
Revises: 0003, 0006
"""
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = ("0003", "0006")
branch_labels = None
depends_on = None

HERE = Path(__file__).resolve().parent.parent


def _run(name: str) -> None:
    sql = (HERE / name).read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def upgrade() -> None:
    """Replace the area functions with those of ``schema_0007_area_setbased.sql``."""
    _run("schema_0007_area_setbased.sql")


def downgrade() -> None:
    """Back to the per-building functions of ``schema_0002_area.sql``."""
    for fn in ("expro_building_area_metrics(bigint, double precision, double precision, double precision, text, "
               "text, double precision)", "expro_parcel_inside_scope(bigint)", "expro_covered(geometry, bigint, "
               "text, text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    _run("schema_0002_area.sql")
