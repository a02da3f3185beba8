"""Imagery footprints say how sure their extractor is and which extractor measured them.

``confidence`` (0-1) is the learnt segmenter's mean roof probability inside the outline (NULL for survey
footprints and for round 1's classical extractor, which has none); ``extractor`` names the method
(``classical`` or ``model:<file>``), so the evidence of an alert can say where a footprint came from.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns."""
    op.execute("ALTER TABLE footprint ADD COLUMN IF NOT EXISTS confidence double precision "
               "CHECK (confidence IS NULL OR confidence BETWEEN 0 AND 1)")
    op.execute("ALTER TABLE footprint ADD COLUMN IF NOT EXISTS extractor text")


def downgrade() -> None:
    """Drop them."""
    op.execute("ALTER TABLE footprint DROP COLUMN IF EXISTS extractor")
    op.execute("ALTER TABLE footprint DROP COLUMN IF EXISTS confidence")
