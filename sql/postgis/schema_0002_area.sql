-- Area-discrepancy functions (issue: claimed areas against measured footprints).
-- Definitions identical to gis_core/areas.py:
--   covered area  = area(outline ∩ union(footprints of the phase and source that intersect the outline))
--   coverage      = covered area / outline area
--   expected M    = baseline covered area × claimed storeys
--   tolerance     = a·√M + b·M + k × perimeter(covered part) × storeys × pixel size (imagery only)

CREATE FUNCTION expro_covered(p_outline geometry, p_project bigint, p_phase text, p_source text)
RETURNS TABLE (area_m2 double precision, perimeter_m double precision, footprints integer,
               height_m double precision, pixel_size_m double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH hit AS (
        SELECT f.geom, f.height_m, f.pixel_size_m
        FROM footprint f
        WHERE f.project_id = p_project AND f.phase = p_phase AND f.source = p_source
          AND f.geom && p_outline AND ST_Intersects(f.geom, p_outline)
    ), agg AS (
        SELECT count(*)::int AS n, max(height_m) AS h, max(pixel_size_m) AS px, array_agg(geom) AS geoms FROM hit
    ), part AS (
        SELECT n, h, px,
               CASE WHEN n = 0 THEN NULL
                    WHEN n = 1 AND ST_Covers(geoms[1], p_outline) THEN p_outline
                    WHEN n = 1 THEN ST_Intersection(p_outline, geoms[1])
                    ELSE ST_Intersection(p_outline, ST_Union(geoms)) END AS g
        FROM agg
    )
    SELECT COALESCE(ST_Area(g), 0), COALESCE(ST_Perimeter(g), 0), n, h, px FROM part
$$;

CREATE FUNCTION expro_building_area_metrics(
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
    SELECT b.id, b.parcel_code, b.building_no,
           b.outline_area_m2, cb.area_m2,
           CASE WHEN b.outline_area_m2 > 0 THEN cb.area_m2 / b.outline_area_m2 ELSE 0 END,
           cb.perimeter_m, cb.footprints, cb.pixel_size_m,
           b.storeys, cb.height_m,
           CASE WHEN cb.height_m IS NULL THEN NULL ELSE greatest(1, round(cb.height_m / p_storey_height_m)) END,
           b.claimed_floor_area_m2::double precision,
           cb.area_m2 * b.storeys,
           p_a * sqrt(cb.area_m2 * b.storeys) + p_b * cb.area_m2 * b.storeys
             + p_k * cb.perimeter_m * b.storeys * COALESCE(cb.pixel_size_m, 0),
           b.claimed_floor_area_m2::double precision - cb.area_m2 * b.storeys,
           CASE WHEN cb.area_m2 * b.storeys > 0
                THEN (b.claimed_floor_area_m2::double precision - cb.area_m2 * b.storeys) / (cb.area_m2 * b.storeys) * 100
                ELSE NULL END,
           ca.area_m2,
           CASE WHEN b.outline_area_m2 > 0 THEN ca.area_m2 / b.outline_area_m2 ELSE 0 END,
           ca.footprints
    FROM building b
    CROSS JOIN LATERAL expro_covered(b.geom, p_project, 'baseline', p_baseline_source) cb
    CROSS JOIN LATERAL expro_covered(b.geom, p_project, 'after', p_after_source) ca
    WHERE b.project_id = p_project
$$;

CREATE FUNCTION expro_parcel_inside_scope(p_project bigint)
RETURNS TABLE (parcel_id bigint, parcel_code text, area_m2 double precision, inside_m2 double precision,
               inside_fraction double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT pa.id, pa.parcel_code, pa.area_m2,
           CASE WHEN ST_CoveredBy(pa.geom, s.geom) THEN pa.area_m2 ELSE ST_Area(ST_Intersection(pa.geom, s.geom)) END,
           CASE WHEN pa.area_m2 <= 0 THEN 0
                WHEN ST_CoveredBy(pa.geom, s.geom) THEN 1
                ELSE ST_Area(ST_Intersection(pa.geom, s.geom)) / pa.area_m2 END
    FROM parcel pa JOIN project_scope s ON s.project_id = pa.project_id
    WHERE pa.project_id = p_project
$$;
