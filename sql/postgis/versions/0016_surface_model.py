"""Surface models (DSM) delivered with an orthophoto: ``expro ortho ingest --dsm FILE`` keeps one per flight, as a
Cloud Optimized GeoTIFF catalogued beside its orthophoto; footprint extraction fuses its height above ground.

Revision ID: 0016
Revises: 0015
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the catalogue table of surface models (at most one per orthophoto)."""
    op.execute("""
        CREATE TABLE IF NOT EXISTS surface_model (
            id              bigserial PRIMARY KEY,
            orthophoto_id   bigint NOT NULL UNIQUE REFERENCES orthophoto(id) ON DELETE CASCADE,
            source_path     text NOT NULL,
            cog_path        text NOT NULL,
            sha256          text NOT NULL,
            cog_sha256      text NOT NULL,
            size_bytes      bigint NOT NULL,
            cog_size_bytes  bigint NOT NULL,
            width_px        integer NOT NULL,
            height_px       integer NOT NULL,
            dtype           text NOT NULL,
            crs             text NOT NULL,
            resolution_m    double precision NOT NULL CHECK (resolution_m > 0),
            nodata          double precision,
            z_min_m         double precision,
            z_max_m         double precision,
            footprint       geometry(MultiPolygon) NOT NULL CHECK (ST_SRID(footprint) > 0),
            overlap_fraction double precision NOT NULL CHECK (overlap_fraction > 0 AND overlap_fraction <= 1),
            ingested_at     timestamptz NOT NULL DEFAULT now())""")


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP TABLE IF EXISTS surface_model")
