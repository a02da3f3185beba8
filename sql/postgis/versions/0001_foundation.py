"""Foundation schema: projects, spatial units, parties, registry, claims, payments, staff, alerts, audit.

Revision ID: 0001
Revises:
"""
from pathlib import Path

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the foundation schema from ``schema_0001.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0001.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)  # no parameters: psycopg2 leaves '%' alone


def downgrade() -> None:
    """The foundation cannot be downgraded (the audit trail is kept long-term)."""
    raise RuntimeError("downgrade below the foundation is not supported")
