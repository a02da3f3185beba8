-- Imagery (issue 4): what ingest learns about an orthophoto, and the change between two flights.

-- The catalogue row of an ingested orthophoto also names its Cloud Optimized GeoTIFF.
-- sha256 / size_bytes stay those of the source file (as for package orthophotos); cog_* are the COG's.
ALTER TABLE orthophoto
    ADD COLUMN cog_sha256      text CHECK (cog_sha256 IS NULL OR cog_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN cog_size_bytes  bigint CHECK (cog_size_bytes IS NULL OR cog_size_bytes > 0),
    ADD COLUMN ingest          jsonb NOT NULL DEFAULT '{}'::jsonb,   -- layout, mask source, stretch, compression
    ADD COLUMN ingested_at     timestamptz,
    ADD CONSTRAINT orthophoto_status_check CHECK (status IN ('catalogued', 'ingested')),
    ADD CONSTRAINT orthophoto_cog_check CHECK ((status = 'ingested') = (cog_path IS NOT NULL));
CREATE INDEX orthophoto_project_sha_idx ON orthophoto (project_id, sha256);

-- Share of each building and parcel that changed between a baseline and an after flight.
CREATE TABLE change_fraction (
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    subject_type        text NOT NULL CHECK (subject_type IN ('building', 'parcel')),
    subject_key         text NOT NULL,     -- parcel_code/building_no for buildings, parcel_code for parcels
    baseline_ortho_id   bigint NOT NULL REFERENCES orthophoto(id) ON DELETE CASCADE,
    after_ortho_id      bigint NOT NULL REFERENCES orthophoto(id) ON DELETE CASCADE,
    area_m2             double precision NOT NULL CHECK (area_m2 >= 0),
    observed_fraction   double precision NOT NULL CHECK (observed_fraction BETWEEN 0 AND 1),
    changed_fraction    double precision CHECK (changed_fraction BETWEEN 0 AND 1),  -- NULL: nothing observed
    changed_area_m2     double precision NOT NULL CHECK (changed_area_m2 >= 0),
    resolution_m        double precision NOT NULL CHECK (resolution_m > 0),
    params              jsonb NOT NULL DEFAULT '{}'::jsonb,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, subject_type, subject_key, baseline_ortho_id, after_ortho_id),
    CHECK (baseline_ortho_id <> after_ortho_id)
);
CREATE INDEX change_fraction_pair_idx ON change_fraction (baseline_ortho_id, after_ortho_id);
COMMENT ON TABLE change_fraction IS '前后两期影像变化: changed share of each building and parcel between two flights';
