"""The alert loop: verdict, closure time, attachments.

Revision ID: 0005
Revises: 0004
"""
from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply ``schema_0005_alert_loop.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0005_alert_loop.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def downgrade() -> None:
    """Drop the alert-loop columns and the attachment table."""
    op.execute("DROP TABLE IF EXISTS attachment")
    op.execute("ALTER TABLE alert DROP COLUMN IF EXISTS closed_at, DROP COLUMN IF EXISTS verdict")
