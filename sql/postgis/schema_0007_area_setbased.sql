-- Area-discrepancy functions, set-based (replaces the per-building LATERAL probes of schema_0002_area.sql).
-- Same signatures, same definitions (see gis_core/areas.py):
--   covered area  = area(outline ∩ union(footprints of the phase and source that intersect the outline))
--   coverage      = covered area / outline area
--   expected M    = baseline covered area × claimed storeys
--   tolerance     = a·√M + b·M + k × perimeter(covered part) × storeys × pixel size (imagery only)
--
-- expro_building_area_metrics: one spatial join of buildings with the footprints of both phases (one
-- GiST probe per building instead of one per building and phase); per pair, ST_Covers first: a
-- footprint that covers the outline makes the covered part the outline itself, otherwise the piece
-- outline ∩ footprint is computed in the join and the pieces are unioned per building and phase in one
-- aggregate. No per-row function call, so the planner may run it under a Gather.
--
-- expro_parcel_inside_scope: the scope detoasted once (a large scope is stored compressed out of line),
-- and ST_Covers(scope, parcel) evaluated once per parcel (PostGIS prepares the repeated scope geometry).

CREATE OR REPLACE FUNCTION expro_building_area_metrics(
    p_project bigint, p_a double precision, p_b double precision, p_k double precision,
    p_baseline_source text DEFAULT 'survey', p_after_source text DEFAULT 'survey',
    p_storey_height_m double precision DEFAULT 3.0)
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
        WHERE b.project_id = p_project
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


CREATE OR REPLACE FUNCTION expro_parcel_inside_scope(p_project bigint)
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
        WHERE pa.project_id = p_project
        OFFSET 0) x
$$;

