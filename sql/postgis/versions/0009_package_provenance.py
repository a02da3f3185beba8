"""Which registry extracts came with a project package (replaced on re-import) and which were loaded on their own.

``expro registry import --project`` extracts are kept when the project's package is re-imported; the
extract a package carried is replaced by the one the new package carries. Existing rows: a package's
extract was the one without a SHA-256 (``registry import`` always records it).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``registry_extract.from_package``."""
    op.execute("ALTER TABLE registry_extract ADD COLUMN IF NOT EXISTS from_package boolean NOT NULL DEFAULT false")
    op.execute("UPDATE registry_extract SET from_package = true WHERE project_id IS NOT NULL AND sha256 IS NULL")
    op.execute("CREATE INDEX IF NOT EXISTS registry_extract_project_idx ON registry_extract (project_id)")


def downgrade() -> None:
    """Drop the column."""
    op.execute("DROP INDEX IF EXISTS registry_extract_project_idx")
    op.execute("ALTER TABLE registry_extract DROP COLUMN IF EXISTS from_package")
