-- Cases, their ordered stages, the captures of the mandatory archive, reviews, reassignments, the
-- quantity record, generated documents, payments made through the API, resumable uploads and public
-- complaints. The tables are declared again as ORM models in supervision/orm.py (a test compares them).
--
-- A case names its household by project and household number, never by household id: a re-import
-- replaces the package's households (new ids) and keeps every case's progress.

-- project.toml [cases] (accuracy limit, overdue margin) and [casetypes] (overrides of the stage lists)
ALTER TABLE project ADD COLUMN case_config jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE TABLE case_file (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    household_no        text NOT NULL,
    case_type           text NOT NULL CHECK (case_type IN ('residential', 'enterprise', 'farmland')),
    casetype_version    text NOT NULL,
    state               text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'closed', 'withdrawn')),
    extent              geometry(MultiPolygon) CHECK (extent IS NULL OR ST_SRID(extent) > 0),
    opened_at           timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    UNIQUE (project_id, household_no)
);
CREATE INDEX case_file_extent_gix ON case_file USING gist (extent);

CREATE TABLE case_stage (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
    position            integer NOT NULL CHECK (position >= 1),
    code                text NOT NULL,
    role                text NOT NULL,
    time_limit_days     integer NOT NULL CHECK (time_limit_days >= 1),
    state               text NOT NULL DEFAULT 'locked'
                        CHECK (state IN ('locked', 'open', 'submitted', 'returned', 'approved')),
    assignee_user_id    bigint REFERENCES app_user(id) ON DELETE SET NULL,
    opened_on           date,
    due_on              date,
    submitted_at        timestamptz,
    submitted_by        bigint REFERENCES app_user(id) ON DELETE SET NULL,
    decided_at          timestamptz,
    decided_by          bigint REFERENCES app_user(id) ON DELETE SET NULL,
    UNIQUE (case_id, code),
    UNIQUE (case_id, position)
);
CREATE INDEX case_stage_assignee_idx ON case_stage (assignee_user_id);
CREATE INDEX case_stage_due_idx ON case_stage (due_on) WHERE state IN ('open', 'submitted', 'returned');
CREATE INDEX case_stage_submitted_by_idx ON case_stage (submitted_by);
CREATE INDEX case_stage_decided_by_idx ON case_stage (decided_by);

CREATE TABLE case_capture (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
    capture_uuid        uuid NOT NULL UNIQUE,
    stage_code          text NOT NULL,
    item_code           text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('photo', 'video', 'document', 'signature', 'form')),
    media_type          text NOT NULL,
    size_bytes          bigint NOT NULL CHECK (size_bytes > 0),
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    file_path           text NOT NULL,
    file_name           text,
    taken_at            timestamptz,
    lon                 double precision CHECK (lon BETWEEN -180 AND 180),
    lat                 double precision CHECK (lat BETWEEN -90 AND 90),
    accuracy_m          double precision CHECK (accuracy_m >= 0),
    position            geometry(Point, 4326),
    exif                jsonb NOT NULL DEFAULT '{}'::jsonb,
    document_no         text,
    captured_by         bigint REFERENCES app_user(id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_capture_item_idx ON case_capture (case_id, stage_code, item_code);
CREATE INDEX case_capture_position_gix ON case_capture USING gist (position);
CREATE INDEX case_capture_captured_by_idx ON case_capture (captured_by);

CREATE TABLE stage_review (
    id                  bigserial PRIMARY KEY,
    case_stage_id       bigint NOT NULL REFERENCES case_stage(id) ON DELETE CASCADE,
    decision            text NOT NULL CHECK (decision IN ('approve', 'return')),
    opinion             text NOT NULL,
    reviewer_user_id    bigint REFERENCES app_user(id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stage_review_stage_idx ON stage_review (case_stage_id);
CREATE INDEX stage_review_reviewer_idx ON stage_review (reviewer_user_id);

CREATE TABLE stage_reassignment (
    id                  bigserial PRIMARY KEY,
    case_stage_id       bigint NOT NULL REFERENCES case_stage(id) ON DELETE CASCADE,
    from_user_id        bigint REFERENCES app_user(id) ON DELETE SET NULL,
    to_user_id          bigint REFERENCES app_user(id) ON DELETE SET NULL,
    changed_by          bigint REFERENCES app_user(id) ON DELETE SET NULL,
    reason              text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stage_reassignment_stage_idx ON stage_reassignment (case_stage_id);
CREATE INDEX stage_reassignment_from_idx ON stage_reassignment (from_user_id);
CREATE INDEX stage_reassignment_to_idx ON stage_reassignment (to_user_id);
CREATE INDEX stage_reassignment_by_idx ON stage_reassignment (changed_by);

-- The quantity record (核量): one line per building or item, the one record the documents come from.
CREATE TABLE case_quantity (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
    line_no             integer NOT NULL CHECK (line_no >= 1),
    item_kind           text NOT NULL CHECK (item_kind IN ('building', 'land', 'attachment', 'crop', 'business_loss')),
    parcel_code         text,
    building_no         text,
    description         text NOT NULL DEFAULT '',
    structure_type      text,
    storeys             integer CHECK (storeys IS NULL OR storeys BETWEEN 1 AND 200),
    quantity            numeric(16, 4) NOT NULL CHECK (quantity >= 0),
    unit                text NOT NULL CHECK (unit IN ('m2', 'mu', 'item')),
    unit_price_yuan     numeric(16, 2) NOT NULL CHECK (unit_price_yuan >= 0),
    amount_yuan         numeric(16, 2) NOT NULL CHECK (amount_yuan >= 0),
    recorded_by         bigint REFERENCES app_user(id) ON DELETE SET NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, line_no)
);
CREATE INDEX case_quantity_recorded_by_idx ON case_quantity (recorded_by);

CREATE TABLE case_document (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('quantity_sheet', 'agreement')),
    document_no         text NOT NULL UNIQUE,
    record_sha256       text NOT NULL,
    pdf_sha256          text NOT NULL,
    pdf                 bytea NOT NULL,
    generated_by        bigint REFERENCES app_user(id) ON DELETE SET NULL,
    generated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, kind, record_sha256)
);
CREATE INDEX case_document_generated_by_idx ON case_document (generated_by);

-- Payments made through the API: kept across re-imports and written into payment as well (the models read it).
CREATE TABLE case_payment (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES case_file(id) ON DELETE CASCADE,
    payment_id          text NOT NULL,
    payee_id_number     text NOT NULL,
    payee_name          text NOT NULL,
    amount_yuan         numeric(16, 2) NOT NULL CHECK (amount_yuan > 0),
    paid_on             date NOT NULL,
    agreement_no        text,
    recorded_by         bigint REFERENCES app_user(id) ON DELETE SET NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, payment_id)
);
CREATE INDEX case_payment_recorded_by_idx ON case_payment (recorded_by);

-- Public complaints about published results (no login), routed to the inspectors' queue.
CREATE TABLE complaint (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    household_no        text,
    complainant_name    text NOT NULL,
    contact             text NOT NULL,
    body                text NOT NULL,
    client_digest       text NOT NULL,          -- sha256 of the client address: rate limiting without storing it
    state               text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'handling', 'closed')),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaint_project_idx ON complaint (project_id, created_at);
CREATE INDEX complaint_client_idx ON complaint (client_digest, created_at);

-- The subjects of one household, for the checks run on one case (the inverse of alert_household).
CREATE OR REPLACE FUNCTION expro_household_subjects(p_project bigint, p_household_no text)
RETURNS TABLE (subject_type text, subject_key text) LANGUAGE sql STABLE AS $$
    SELECT 'household', p_household_no
    UNION SELECT 'building', c.parcel_code || '/' || c.building_no FROM claim c
        WHERE c.project_id = p_project AND c.household_no = p_household_no AND c.building_no IS NOT NULL
    UNION SELECT 'building', b.parcel_code || '/' || b.building_no FROM building b
        JOIN parcel pa ON pa.id = b.parcel_id
        WHERE b.project_id = p_project AND pa.household_no = p_household_no
    UNION SELECT 'claim', c.claim_id FROM claim c WHERE c.project_id = p_project AND c.household_no = p_household_no
    UNION SELECT 'person', c.claimant_id_number FROM claim c
        WHERE c.project_id = p_project AND c.household_no = p_household_no
    UNION SELECT 'person', p.payee_id_number FROM payment p
        WHERE p.project_id = p_project AND p.household_no = p_household_no
    UNION SELECT 'payment', p.payment_id FROM payment p
        WHERE p.project_id = p_project AND p.household_no = p_household_no
    UNION SELECT 'parcel', pa.parcel_code FROM parcel pa
        WHERE pa.project_id = p_project AND pa.household_no = p_household_no
    UNION SELECT 'parcel', c.parcel_code FROM claim c
        WHERE c.project_id = p_project AND c.household_no = p_household_no
    UNION SELECT 'photo', f.photo_id FROM field_photo f JOIN household h ON h.id = f.household_id
        WHERE f.project_id = p_project AND h.household_no = p_household_no
    UNION SELECT 'photo', cc.capture_uuid::text FROM case_capture cc JOIN case_file cf ON cf.id = cc.case_id
        WHERE cf.project_id = p_project AND cf.household_no = p_household_no
$$;

-- Alerts on captures belong to the capture's household too.
CREATE OR REPLACE VIEW alert_household AS
SELECT a.id AS alert_id, h.id AS household_id
FROM alert a
JOIN LATERAL (
    SELECT pa.household_no FROM parcel pa
    WHERE a.subject_type = 'building' AND pa.project_id = a.project_id
      AND pa.parcel_code = split_part(a.subject_key, '/', 1)
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'building' AND c.project_id = a.project_id
      AND c.parcel_code = split_part(a.subject_key, '/', 1) AND c.building_no = split_part(a.subject_key, '/', 2)
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'claim' AND c.project_id = a.project_id AND c.claim_id = a.subject_key
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'person' AND c.project_id = a.project_id AND c.claimant_id_number = a.subject_key
    UNION SELECT p.household_no FROM payment p
    WHERE a.subject_type = 'person' AND p.project_id = a.project_id AND p.payee_id_number = a.subject_key
    UNION SELECT a.subject_key WHERE a.subject_type = 'household'
    UNION SELECT p.household_no FROM payment p
    WHERE a.subject_type = 'payment' AND p.project_id = a.project_id AND p.payment_id = a.subject_key
    UNION SELECT pa.household_no FROM parcel pa
    WHERE a.subject_type = 'parcel' AND pa.project_id = a.project_id AND pa.parcel_code = a.subject_key
    UNION SELECT hh.household_no FROM field_photo f JOIN household hh ON hh.id = f.household_id
    WHERE a.subject_type = 'photo' AND f.project_id = a.project_id AND f.photo_id = a.subject_key
    UNION SELECT cf.household_no FROM case_capture cc JOIN case_file cf ON cf.id = cc.case_id
    WHERE a.subject_type = 'photo' AND cf.project_id = a.project_id AND cc.capture_uuid::text = a.subject_key
) k ON k.household_no IS NOT NULL
JOIN household h ON h.project_id = a.project_id AND h.household_no = k.household_no;
