"""GB 11643 in SQL agrees with Python; the check reading the clock is STABLE, not IMMUTABLE.

``expro_id_problem(text, date)`` takes the reference date and is IMMUTABLE; ``expro_id_problem(text)``
checks against today in China and is STABLE, and so is ``expro_id_candidates``, which calls it.

Revision ID: 0012
Revises: 0011
"""
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _run(name: str) -> None:
    sql = (Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def upgrade() -> None:
    """Create the functions of ``schema_0012_id_volatility.sql``."""
    _run("schema_0012_id_volatility.sql")


def downgrade() -> None:
    """Restore the functions of 0004 and drop the two-argument check."""
    _run("schema_0004_registry.sql")
    op.execute("DROP FUNCTION IF EXISTS expro_id_problem(text, date)")
