"""Alert routing: the households each alert concerns.

Revision ID: 0006
Revises: 0005
"""
from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the view of ``schema_0006_alert_routing.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0006_alert_routing.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def downgrade() -> None:
    """Drop the view."""
    op.execute("DROP VIEW IF EXISTS alert_household")
