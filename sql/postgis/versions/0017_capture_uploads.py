"""Resumable capture uploads: a large video arrives in byte ranges, its state visible and resumable.

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``capture_upload``: one row per upload in progress (or finished) of one capture."""
    op.execute("""
        CREATE TABLE capture_upload (
            id              uuid PRIMARY KEY,
            case_id         bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
            capture_uuid    uuid NOT NULL UNIQUE,
            fields          jsonb NOT NULL,
            file_name       text NOT NULL,
            size_bytes      bigint NOT NULL CHECK (size_bytes > 0),
            received_bytes  bigint NOT NULL DEFAULT 0 CHECK (received_bytes >= 0 AND received_bytes <= size_bytes),
            state           text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'complete', 'refused')),
            error           text,
            part_path       text NOT NULL,
            created_by      bigint REFERENCES app_user(id) ON DELETE SET NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX capture_upload_case_idx ON capture_upload (case_id);
        CREATE INDEX capture_upload_created_by_idx ON capture_upload (created_by);""")


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP TABLE IF EXISTS capture_upload")
