"""Evidence packs of alerts: each generated PDF's SHA-256, who generated it and when (``web_map.evidence_pack``).

An inspector downloads an alert's evidence pack for the case file; the pack is regenerated from the alert's
current evidence and history each time, so every download is a row here (and an audit event), and a pack on
file can be matched to the row by its hash.

Revision ID: 0020
Revises: 0019
"""
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``alert_evidence_pack``."""
    op.execute("""
        CREATE TABLE alert_evidence_pack (
            id              bigserial PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES alert(id) ON DELETE CASCADE,
            sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            size_bytes      bigint NOT NULL CHECK (size_bytes > 0),
            alert_state     text NOT NULL,
            generated_by    bigint REFERENCES app_user(id) ON DELETE SET NULL,
            generated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_evidence_pack_alert_idx ON alert_evidence_pack (alert_id);
        CREATE INDEX alert_evidence_pack_sha_idx ON alert_evidence_pack (sha256);""")


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP TABLE IF EXISTS alert_evidence_pack")
