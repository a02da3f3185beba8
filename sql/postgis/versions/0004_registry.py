"""Identity functions for the registry cross-checks.

Revision ID: 0004
Revises: 0002
"""
from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the functions of ``schema_0004_registry.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0004_registry.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def downgrade() -> None:
    """Drop the identity functions."""
    op.execute("DROP FUNCTION IF EXISTS expro_registry_extracts(bigint)")
    op.execute("DROP FUNCTION IF EXISTS expro_norm_name(text)")
    op.execute("DROP FUNCTION IF EXISTS expro_id_problem(text)")
    op.execute("DROP FUNCTION IF EXISTS expro_id_check_char(text)")
