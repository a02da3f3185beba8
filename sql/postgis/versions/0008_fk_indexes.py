"""Indexes on the foreign keys that had none: the supervision models' lookups and the cascades.

``claim.parcel_id`` is looked up per parcel by HOMESTEAD_AFTER_FREEZE (its EXISTS and its evidence);
without an index each lookup is a sequential scan of every project's claims. The others are the
referencing side of ON DELETE CASCADE / SET NULL: without them, deleting (or re-importing) a project
scans the whole referencing table once per deleted parent row.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = {
    "claim_parcel_idx": "claim (parcel_id)",
    "claim_building_id_idx": "claim (building_id) WHERE building_id IS NOT NULL",
    "building_parcel_idx": "building (parcel_id)",
    "field_photo_household_idx": "field_photo (household_id)",
    "alert_event_alert_idx": "alert_event (alert_id)",
}


def upgrade() -> None:
    """Create the indexes."""
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def downgrade() -> None:
    """Drop the indexes."""
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
