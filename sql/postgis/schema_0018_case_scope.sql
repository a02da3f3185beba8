-- Checks on one case that cost what the case costs, not what the project costs (issue 11: the per-case check
-- when a stage is submitted, p95 goal 200 ms on a 100,000-household project).
--
-- expro_building_area_metrics and expro_parcel_inside_scope take an optional array of building / parcel ids:
-- NULL (the batch check) is the whole project as before; an array limits the spatial join to those rows (the
-- OFFSET 0 fences of schema_0007 stop a filter outside the function from reaching its base tables). The
-- functions are inlined by the planner with the arguments as constants, so "p_ids IS NULL" folds away.
--
-- The household's subjects (expro_household_subjects) and the rules grouped by household read claims and
-- payments by (project, household number): indexed now; the photo branch is limited to the project.

CREATE INDEX IF NOT EXISTS claim_project_household_no_idx ON claim (project_id, household_no);
CREATE INDEX IF NOT EXISTS payment_project_household_no_idx ON payment (project_id, household_no);

DROP FUNCTION IF EXISTS expro_building_area_metrics(bigint, double precision, double precision, double precision,
                                                    text, text, double precision);
DROP FUNCTION IF EXISTS expro_parcel_inside_scope(bigint);

CREATE OR REPLACE FUNCTION expro_building_area_metrics(
    p_project bigint, p_a double precision, p_b double precision, p_k double precision,
    p_baseline_source text DEFAULT 'survey', p_after_source text DEFAULT 'survey',
    p_storey_height_m double precision DEFAULT 3.0, p_building_ids bigint[] DEFAULT NULL)
RETURNS TABLE (
    building_id bigint, parcel_code text, building_no text,
    outline_area_m2 double precision, baseline_area_m2 double precision, baseline_coverage double precision,
    baseline_perimeter_m double precision, baseline_footprints integer, baseline_pixel_size_m double precision,
    storeys_claimed integer, height_m double precision, storeys_from_height double precision,
    claimed_floor_area_m2 double precision, expected_floor_area_m2 double precision, tolerance_m2 double precision,
    discrepancy_m2 double precision, discrepancy_pct double precision,
    after_area_m2 double precision, after_coverage double precision, after_footprints integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH pair AS (
        SELECT p.*, CASE WHEN p.covers THEN NULL ELSE ST_Intersection(p.bgeom, p.fgeom) END AS piece
        FROM (
            SELECT b.id AS bid, f.phase, f.height_m, f.pixel_size_m, ST_Covers(f.geom, b.geom) AS covers,
                   f.geom AS fgeom, b.geom AS bgeom
            FROM building b JOIN footprint f ON f.geom && b.geom
            WHERE b.project_id = p_project AND f.project_id = p_project
              AND (p_building_ids IS NULL OR b.id = ANY(p_building_ids))
              AND ((f.phase = 'baseline' AND f.source = p_baseline_source)
                   OR (f.phase = 'after' AND f.source = p_after_source))
            OFFSET 0) p
        OFFSET 0
    ), agg AS (
        SELECT bid,
               count(*) FILTER (WHERE phase = 'baseline' AND (covers OR NOT ST_IsEmpty(piece)))::int AS bn,
               bool_or(covers) FILTER (WHERE phase = 'baseline') AS bcov,
               max(height_m) FILTER (WHERE phase = 'baseline' AND (covers OR NOT ST_IsEmpty(piece))) AS bh,
               max(pixel_size_m) FILTER (WHERE phase = 'baseline' AND (covers OR NOT ST_IsEmpty(piece))) AS bpx,
               ST_Union(piece) FILTER (WHERE phase = 'baseline' AND NOT ST_IsEmpty(piece)) AS bpiece,
               count(*) FILTER (WHERE phase = 'after' AND (covers OR NOT ST_IsEmpty(piece)))::int AS an,
               bool_or(covers) FILTER (WHERE phase = 'after') AS acov,
               ST_Union(piece) FILTER (WHERE phase = 'after' AND NOT ST_IsEmpty(piece)) AS apiece
        FROM pair GROUP BY bid
    ), c AS (
        SELECT b.id, b.parcel_code, b.building_no, b.outline_area_m2, b.storeys, b.claimed_floor_area_m2,
               COALESCE(a.bn, 0) AS bn, a.bh, a.bpx, COALESCE(a.an, 0) AS an,
               CASE WHEN a.bcov THEN b.outline_area_m2 ELSE COALESCE(ST_Area(a.bpiece), 0) END AS barea,
               CASE WHEN a.bcov THEN ST_Perimeter(b.geom) ELSE COALESCE(ST_Perimeter(a.bpiece), 0) END AS bper,
               CASE WHEN a.acov THEN b.outline_area_m2 ELSE COALESCE(ST_Area(a.apiece), 0) END AS aarea
        FROM building b LEFT JOIN agg a ON a.bid = b.id
        WHERE b.project_id = p_project AND (p_building_ids IS NULL OR b.id = ANY(p_building_ids))
        OFFSET 0
    )
    SELECT c.id, c.parcel_code, c.building_no,
           c.outline_area_m2, c.barea,
           CASE WHEN c.outline_area_m2 > 0 THEN c.barea / c.outline_area_m2 ELSE 0 END,
           c.bper, c.bn, c.bpx,
           c.storeys, c.bh,
           CASE WHEN c.bh IS NULL THEN NULL ELSE greatest(1, round(c.bh / p_storey_height_m)) END,
           c.claimed_floor_area_m2::double precision,
           c.barea * c.storeys,
           p_a * sqrt(c.barea * c.storeys) + p_b * c.barea * c.storeys
             + p_k * c.bper * c.storeys * COALESCE(c.bpx, 0),
           c.claimed_floor_area_m2::double precision - c.barea * c.storeys,
           CASE WHEN c.barea * c.storeys > 0
                THEN (c.claimed_floor_area_m2::double precision - c.barea * c.storeys) / (c.barea * c.storeys) * 100
                ELSE NULL END,
           c.aarea,
           CASE WHEN c.outline_area_m2 > 0 THEN c.aarea / c.outline_area_m2 ELSE 0 END,
           c.an
    FROM c
$$;


CREATE OR REPLACE FUNCTION expro_parcel_inside_scope(p_project bigint, p_parcel_ids bigint[] DEFAULT NULL)
RETURNS TABLE (parcel_id bigint, parcel_code text, area_m2 double precision, inside_m2 double precision,
               inside_fraction double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT x.id, x.parcel_code, x.area_m2, x.inside_m2,
           CASE WHEN x.area_m2 <= 0 THEN 0 ELSE x.inside_m2 / x.area_m2 END
    FROM (
        SELECT pa.id, pa.parcel_code, pa.area_m2,
               CASE WHEN ST_Covers(s.g, pa.geom) THEN pa.area_m2
                    ELSE ST_Area(ST_Intersection(pa.geom, s.g)) END AS inside_m2
        FROM parcel pa
        JOIN (SELECT ps.project_id, ST_Force2D(ps.geom) AS g          -- an in-memory copy, computed once
              FROM project_scope ps WHERE ps.project_id = p_project OFFSET 0) s ON s.project_id = pa.project_id
        WHERE pa.project_id = p_project AND (p_parcel_ids IS NULL OR pa.id = ANY(p_parcel_ids))
        OFFSET 0) x
$$;



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
        WHERE f.project_id = p_project AND h.project_id = p_project AND h.household_no = p_household_no
    UNION SELECT 'photo', cc.capture_uuid::text FROM case_capture cc JOIN case_file cf ON cf.id = cc.case_id
        WHERE cf.project_id = p_project AND cf.household_no = p_household_no
$$;
