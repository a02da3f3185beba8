-- Expro foundation schema (LADM-inspired: parties, groups of parties, spatial units, rights, sources).
-- Geometries are stored in each project's working CRS (a projected CRS such as EPSG:4550);
-- every geometry row carries that SRID, areas are computed in it, never in degrees or Web Mercator.

CREATE EXTENSION IF NOT EXISTS postgis;

-- Projects ---------------------------------------------------------------------------------
CREATE TABLE project (
    id                      bigserial PRIMARY KEY,
    code                    text NOT NULL UNIQUE CHECK (code <> ''),
    name                    text NOT NULL,
    county_code             char(6) NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
    srid                    integer NOT NULL CHECK (srid > 0),
    pre_announcement_date   date NOT NULL,           -- the freeze date
    announcement_date       date,
    tolerance               jsonb NOT NULL DEFAULT '{}'::jsonb,
    rules                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    source_sha256           text,
    imported_at             timestamptz NOT NULL DEFAULT now(),
    created_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE project IS '征收项目: one expropriation project with its freeze date (预公告日期) and working CRS';

CREATE TABLE project_scope (
    project_id  bigint PRIMARY KEY REFERENCES project(id) ON DELETE CASCADE,
    geom        geometry(MultiPolygon) NOT NULL CHECK (ST_SRID(geom) > 0 AND NOT ST_IsEmpty(geom)),
    area_m2     double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED
);
CREATE INDEX project_scope_geom_gix ON project_scope USING gist (geom);

-- Administrative units: county > township > village ------------------------------------------
CREATE TABLE admin_unit (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('county', 'township', 'village')),
    code        text NOT NULL,
    name        text NOT NULL,
    parent_id   bigint REFERENCES admin_unit(id) ON DELETE CASCADE,
    UNIQUE (project_id, level, code)
);

-- Spatial units: parcels (宗地) and surveyed buildings (幢) ------------------------------------
CREATE TABLE parcel (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    parcel_code     text NOT NULL,
    village_code    text NOT NULL,
    land_class      text NOT NULL CHECK (land_class IN ('homestead', 'farmland', 'collective_construction', 'enterprise', 'other')),
    household_no    text,
    certificate_no  text,
    geom            geometry(MultiPolygon) NOT NULL CHECK (ST_SRID(geom) > 0),
    area_m2         double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    UNIQUE (project_id, parcel_code)
);
CREATE INDEX parcel_geom_gix ON parcel USING gist (geom);
CREATE INDEX parcel_household_idx ON parcel (project_id, household_no);

CREATE TABLE building (
    id                      bigserial PRIMARY KEY,
    project_id              bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    parcel_id               bigint NOT NULL REFERENCES parcel(id) ON DELETE CASCADE,
    parcel_code             text NOT NULL,
    building_no             text NOT NULL,
    structure_type          text NOT NULL CHECK (structure_type IN ('brick_concrete', 'brick_wood', 'simple', 'steel', 'other')),
    storeys                 integer NOT NULL CHECK (storeys BETWEEN 1 AND 200),
    claimed_floor_area_m2   numeric(14, 2) NOT NULL CHECK (claimed_floor_area_m2 >= 0),
    geom                    geometry(MultiPolygon) NOT NULL CHECK (ST_SRID(geom) > 0),
    outline_area_m2         double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    UNIQUE (project_id, parcel_code, building_no)
);
CREATE INDEX building_geom_gix ON building USING gist (geom);
COMMENT ON TABLE building IS '核量时登记的房屋: the claimed outline and floor area as recorded at the quantity survey';

-- Orthophoto catalogue (referenced by imagery footprints) -------------------------------------
CREATE TABLE orthophoto (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    phase           text NOT NULL CHECK (phase IN ('baseline', 'after')),
    captured_on     date NOT NULL,
    source_path     text NOT NULL,              -- as named in the package or on the command line
    cog_path        text,                       -- the Cloud Optimized GeoTIFF written by ingest
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    width_px        integer NOT NULL,
    height_px       integer NOT NULL,
    band_count      integer NOT NULL,
    dtype           text NOT NULL,
    crs             text NOT NULL,
    resolution_m    double precision NOT NULL,
    footprint       geometry(MultiPolygon) CHECK (footprint IS NULL OR ST_SRID(footprint) > 0),
    from_package    boolean NOT NULL DEFAULT true,
    status          text NOT NULL DEFAULT 'catalogued',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orthophoto_footprint_gix ON orthophoto USING gist (footprint);
CREATE INDEX orthophoto_project_idx ON orthophoto (project_id, phase);

-- Measured footprints, independent of the claims (baseline = before the freeze, after = after demolition)
CREATE TABLE footprint (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    phase           text NOT NULL CHECK (phase IN ('baseline', 'after')),
    source          text NOT NULL CHECK (source IN ('survey', 'imagery')),
    footprint_id    text NOT NULL,
    height_m        double precision,
    orthophoto_id   bigint REFERENCES orthophoto(id) ON DELETE CASCADE,
    pixel_size_m    double precision,
    geom            geometry(MultiPolygon) NOT NULL CHECK (ST_SRID(geom) > 0),
    area_m2         double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    UNIQUE (project_id, phase, source, footprint_id)
);
CREATE INDEX footprint_geom_gix ON footprint USING gist (geom);
CREATE INDEX footprint_project_phase_idx ON footprint (project_id, phase, source);

-- Parties: households (group party) and their members ---------------------------------------
CREATE TABLE household (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    household_no    text NOT NULL,
    village_code    text NOT NULL,
    head_id_number  text NOT NULL,
    head_name       text NOT NULL,
    UNIQUE (project_id, household_no)
);

CREATE TABLE household_member (
    id              bigserial PRIMARY KEY,
    household_id    bigint NOT NULL REFERENCES household(id) ON DELETE CASCADE,
    id_number       text NOT NULL,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('head', 'claimant', 'payee')),
    UNIQUE (household_id, id_number, role)
);
CREATE INDEX household_member_id_idx ON household_member (id_number);

-- Household registry extract (户籍) from the public-security authority ------------------------
CREATE TABLE registry_extract (
    id              bigserial PRIMARY KEY,
    project_id      bigint REFERENCES project(id) ON DELETE CASCADE,   -- NULL: a city-wide extract
    source_name     text NOT NULL,
    sha256          text,
    row_count       bigint NOT NULL DEFAULT 0,
    imported_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry_person (
    extract_id              bigint NOT NULL REFERENCES registry_extract(id) ON DELETE CASCADE,
    id_number               text NOT NULL,
    name                    text NOT NULL,
    gender                  char(1) CHECK (gender IN ('M', 'F')),
    birth_date              date,
    household_no            text,
    relation_to_head        text,
    village_code            text,
    status                  text NOT NULL CHECK (status IN ('active', 'deceased', 'moved_out')),
    status_date             date,
    moved_in_on             date,
    split_from_household_no text,
    split_on                date,
    PRIMARY KEY (extract_id, id_number)
);
CREATE INDEX registry_person_id_idx ON registry_person (id_number);
CREATE INDEX registry_person_household_idx ON registry_person (household_no);
CREATE INDEX registry_person_split_idx ON registry_person (split_from_household_no) WHERE split_from_household_no IS NOT NULL;

-- Rights: compensation claims (补偿项) and payments ------------------------------------------
CREATE TABLE claim (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    claim_id            text NOT NULL,
    household_id        bigint NOT NULL REFERENCES household(id) ON DELETE CASCADE,
    household_no        text NOT NULL,
    claimant_id_number  text NOT NULL,
    claimant_name       text NOT NULL,
    parcel_id           bigint NOT NULL REFERENCES parcel(id) ON DELETE CASCADE,
    parcel_code         text NOT NULL,
    building_no         text,
    building_id         bigint REFERENCES building(id) ON DELETE SET NULL,
    item_kind           text NOT NULL CHECK (item_kind IN ('building', 'land', 'attachment', 'crop', 'business_loss')),
    quantity            numeric(16, 4) NOT NULL,
    unit                text NOT NULL CHECK (unit IN ('m2', 'mu', 'item')),
    unit_price_yuan     numeric(16, 2) NOT NULL,
    amount_yuan         numeric(16, 2) NOT NULL,
    registered_on       date NOT NULL,
    case_type           text NOT NULL CHECK (case_type IN ('residential', 'enterprise', 'farmland')),
    UNIQUE (project_id, claim_id)
);
CREATE INDEX claim_household_idx ON claim (household_id);
CREATE INDEX claim_claimant_idx ON claim (claimant_id_number);
CREATE INDEX claim_building_idx ON claim (project_id, parcel_code, building_no);

CREATE TABLE payment (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    payment_id          text NOT NULL,
    household_id        bigint NOT NULL REFERENCES household(id) ON DELETE CASCADE,
    household_no        text NOT NULL,
    payee_id_number     text NOT NULL,
    payee_name          text NOT NULL,
    amount_yuan         numeric(16, 2) NOT NULL,
    paid_on             date NOT NULL,
    agreement_no        text,
    UNIQUE (project_id, payment_id)
);
CREATE INDEX payment_household_idx ON payment (household_id);
CREATE INDEX payment_payee_idx ON payment (payee_id_number);

CREATE TABLE homestead_approval (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    approval_no     text NOT NULL,
    household_no    text,
    parcel_id       bigint NOT NULL REFERENCES parcel(id) ON DELETE CASCADE,
    parcel_code     text NOT NULL,
    approved_on     date NOT NULL,
    UNIQUE (project_id, approval_no)
);
CREATE INDEX homestead_approval_parcel_idx ON homestead_approval (parcel_id);

-- Staff (accounts are global; membership and assignments are per project) --------------------
CREATE TABLE app_user (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username <> ''),   -- the staff number (工号)
    name            text NOT NULL,
    id_number       text,
    role            text NOT NULL CHECK (role IN ('field_crew', 'gis_officer', 'supervisor', 'inspector', 'admin')),
    password_hash   text,               -- argon2id; NULL: cannot sign in until a password is set
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_staff (
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    user_id             bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
    supervisor_user_id  bigint REFERENCES app_user(id) ON DELETE SET NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE assignment (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    household_id    bigint NOT NULL REFERENCES household(id) ON DELETE CASCADE,
    stage           text NOT NULL,
    user_id         bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
    UNIQUE (household_id, stage, user_id)
);
CREATE INDEX assignment_user_idx ON assignment (user_id);

-- Field photos (geotagged captures) -----------------------------------------------------------
CREATE TABLE field_photo (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    photo_id        text NOT NULL,
    household_id    bigint NOT NULL REFERENCES household(id) ON DELETE CASCADE,
    stage           text,
    taken_at        timestamptz,
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    geom            geometry(Point) NOT NULL CHECK (ST_SRID(geom) > 0),   -- in the project CRS
    file_path       text,
    sha256          text,
    UNIQUE (project_id, photo_id)
);
CREATE INDEX field_photo_geom_gix ON field_photo USING gist (geom);

-- Alerts (one per rule and subject) and their disposition history -----------------------------
CREATE TABLE alert (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    rule_code       text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('prompt', 'internal', 'report')),
    subject_type    text NOT NULL CHECK (subject_type IN ('building', 'claim', 'person', 'household', 'payment', 'parcel', 'photo')),
    subject_key     text NOT NULL,
    message         text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    state           text NOT NULL DEFAULT 'new'
                    CHECK (state IN ('new', 'assigned', 'verifying', 'confirmed', 'unfounded', 'rectified', 'closed')),
    firing          boolean NOT NULL DEFAULT true,     -- false: the rule no longer fires on the last check
    assignee_user_id bigint REFERENCES app_user(id) ON DELETE SET NULL,
    amount_recovered_yuan numeric(16, 2) NOT NULL DEFAULT 0,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, rule_code, subject_type, subject_key)
);
CREATE INDEX alert_project_state_idx ON alert (project_id, state);

CREATE TABLE alert_event (
    id              bigserial PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alert(id) ON DELETE CASCADE,
    from_state      text,
    to_state        text NOT NULL,
    user_id         bigint REFERENCES app_user(id),
    opinion         text,
    acted_on        date NOT NULL DEFAULT current_date,
    attachments     jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Audit trail: append-only and hash-chained ---------------------------------------------------
-- Each row stores the exact canonical bytes of its event (UTF-8 JSON with sorted keys) and
-- hash = sha256(prev_hash || event_bytes). Triggers refuse UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_event (
    seq         bigint PRIMARY KEY,       -- assigned by the trigger under the chain lock
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text,
    object_key  text,
    event_bytes bytea NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);

CREATE SEQUENCE audit_event_seq;

CREATE FUNCTION audit_event_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_hash bytea;
BEGIN
    -- one writer at a time extends the chain
    PERFORM pg_advisory_xact_lock(727274001);
    SELECT hash INTO last_hash FROM audit_event ORDER BY seq DESC LIMIT 1;
    IF last_hash IS NULL THEN
        last_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;
    NEW.seq := nextval('audit_event_seq');
    NEW.recorded_at := clock_timestamp();
    NEW.prev_hash := last_hash;
    NEW.hash := sha256(last_hash || NEW.event_bytes);
    RETURN NEW;
END $$;

CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_chain_trg BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_chain();
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC;
