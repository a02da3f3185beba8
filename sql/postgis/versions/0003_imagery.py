"""Imagery: COG columns on the orthophoto catalogue, change fractions between flights.

Revision ID: 0003
Revises: 0002
"""
from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply ``schema_0003_imagery.sql``."""
    sql = (Path(__file__).resolve().parent.parent / "schema_0003_imagery.sql").read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def downgrade() -> None:
    """Drop the change table and the COG columns."""
    op.execute("DROP TABLE IF EXISTS change_fraction")
    op.execute("DROP INDEX IF EXISTS orthophoto_project_sha_idx")
    op.execute("ALTER TABLE orthophoto DROP CONSTRAINT IF EXISTS orthophoto_cog_check, "
               "DROP CONSTRAINT IF EXISTS orthophoto_status_check, DROP COLUMN IF EXISTS ingested_at, "
               "DROP COLUMN IF EXISTS ingest, DROP COLUMN IF EXISTS cog_size_bytes, DROP COLUMN IF EXISTS cog_sha256")
