-- Candidate rewrites of the area SQL, created in the scratch schema bench_scratch (never in public):
-- same signatures and results as expro_building_area_metrics / expro_parcel_inside_scope of
-- sql/postgis/schema_0002_area.sql, measured by benchmarks/area_check/profile_sql.py.

CREATE SCHEMA IF NOT EXISTS bench_scratch;
DROP TYPE IF EXISTS bench_scratch.covered CASCADE;
CREATE TYPE bench_scratch.covered AS (area_m2 double precision, perimeter_m double precision);

-- v2: set-based. One GiST probe per building for both phases (instead of one LATERAL probe per phase),
-- the single-covering-footprint fast path decided per pair inside the join (ST_Covers first, ST_Intersects
-- only for the pairs that do not cover), plain aggregates (count, bool_or, max: parallel-combinable), and
-- the exact intersection (expro_covered) only for the (building, phase) pairs that are not the fast case.
-- No LATERAL over the 1M buildings, so the join can run under a Gather.
CREATE OR REPLACE FUNCTION bench_scratch.area_metrics_v2(
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
    WITH hit AS (
        SELECT b.id AS bid, f.phase, f.height_m, f.pixel_size_m, ST_Covers(f.geom, b.geom) AS covers,
               f.geom AS fgeom, b.geom AS bgeom
        FROM building b JOIN footprint f ON f.geom && b.geom
        WHERE b.project_id = p_project AND f.project_id = p_project
          AND ((f.phase = 'baseline' AND f.source = p_baseline_source)
               OR (f.phase = 'after' AND f.source = p_after_source))
        OFFSET 0                                   -- evaluate ST_Covers once per pair
    ), agg AS (
        SELECT bid, phase, count(*)::int AS n, bool_and(covers) AS covers, max(height_m) AS h, max(pixel_size_m) AS px
        FROM hit WHERE covers OR ST_Intersects(fgeom, bgeom)
        GROUP BY bid, phase
    ), m AS (
        SELECT b.*, ab.n AS bn, ab.covers AS bcov, ab.h AS bh, ab.px AS bpx, aa.n AS an, aa.covers AS acov
        FROM building b
        LEFT JOIN agg ab ON ab.bid = b.id AND ab.phase = 'baseline'
        LEFT JOIN agg aa ON aa.bid = b.id AND aa.phase = 'after'
        WHERE b.project_id = p_project
    ), cov AS (
        SELECT x.*,
               CASE WHEN x.bn IS NULL THEN 0 WHEN x.bfast THEN x.outline_area_m2 ELSE (x.bc).area_m2 END AS barea,
               CASE WHEN x.bn IS NULL THEN 0 WHEN x.bfast THEN ST_Perimeter(x.geom) ELSE (x.bc).perimeter_m END AS bper,
               CASE WHEN x.an IS NULL THEN 0 WHEN x.afast THEN x.outline_area_m2 ELSE (x.ac).area_m2 END AS aarea
        FROM (
            SELECT m.*, (m.bn = 1 AND m.bcov) AS bfast, (m.an = 1 AND m.acov) AS afast,
                   CASE WHEN m.bn IS NOT NULL AND NOT (m.bn = 1 AND m.bcov) THEN
                       (SELECT ROW(c.area_m2, c.perimeter_m)::bench_scratch.covered
                        FROM expro_covered(m.geom, p_project, 'baseline', p_baseline_source) c) END AS bc,
                   CASE WHEN m.an IS NOT NULL AND NOT (m.an = 1 AND m.acov) THEN
                       (SELECT ROW(c.area_m2, c.perimeter_m)::bench_scratch.covered
                        FROM expro_covered(m.geom, p_project, 'after', p_after_source) c) END AS ac
            FROM m OFFSET 0) x          -- each slow-path call once
        OFFSET 0
    )
    SELECT c.id, c.parcel_code, c.building_no,
           c.outline_area_m2, c.barea,
           CASE WHEN c.outline_area_m2 > 0 THEN c.barea / c.outline_area_m2 ELSE 0 END,
           c.bper, COALESCE(c.bn, 0), c.bpx,
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
           COALESCE(c.an, 0)
    FROM cov c
$$;

-- v3: as v2, but no second probe for the slow path: the pieces outline ∩ footprint of the pairs that do
-- not cover are computed in the (parallel) join and unioned per building in the same aggregate, which
-- yields both phases in one row per building. Covered by any single footprint ⇒ the outline itself
-- (a generalisation of the product's fast path, identical up to floating-point noise when two or more
-- footprints intersect and one of them covers).
CREATE OR REPLACE FUNCTION bench_scratch.area_metrics_v3(
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

-- inside-scope v2: the scope geometry detoasted once (a large scope is stored compressed out of line, and
-- the product's join decompresses it again for every parcel: ~25 µs per parcel for a 900-vertex scope),
-- and ST_Covers(scope, parcel) evaluated once per parcel (PostGIS prepares the repeated scope for
-- ST_Covers; ST_CoveredBy is not prepared, and the product evaluates it twice per parcel).
CREATE OR REPLACE FUNCTION bench_scratch.parcel_inside_scope_v2(p_project bigint)
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

-- The product's names, in the scratch schema: with search_path = bench_scratch, public the unchanged
-- product code (supervision.area_metrics.ensure, the OUTSIDE_SCOPE model) calls the rewrites above.
CREATE OR REPLACE FUNCTION bench_scratch.expro_building_area_metrics(
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
    SELECT * FROM bench_scratch.area_metrics_v3(p_project, p_a, p_b, p_k, p_baseline_source, p_after_source,
                                                p_storey_height_m)
$$;

CREATE OR REPLACE FUNCTION bench_scratch.expro_parcel_inside_scope(p_project bigint)
RETURNS TABLE (parcel_id bigint, parcel_code text, area_m2 double precision, inside_m2 double precision,
               inside_fraction double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM bench_scratch.parcel_inside_scope_v2(p_project)
$$;
