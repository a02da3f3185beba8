"""SQL fragments shared by the area rules (evidence of one building's figures)."""

from __future__ import annotations

import json

from gis_core.tolerance import Tolerance
from supervision.models.base import Model

EVIDENCE_SQL = """jsonb_build_object(
    'parcel_code', m.parcel_code, 'building_no', m.building_no,
    'outline_area_m2', round(m.outline_area_m2::numeric, 2),
    'baseline_area_m2', round(m.baseline_area_m2::numeric, 2),
    'baseline_coverage', round(m.baseline_coverage::numeric, 4),
    'baseline_footprints', m.baseline_footprints,
    'baseline_source', m.baseline_source,
    'baseline_pixel_size_m', m.baseline_pixel_size_m,
    'baseline_measured', m.baseline_measured,
    'storeys_claimed', m.storeys_claimed,
    'storeys_used', m.storeys_claimed,
    'storeys_source', 'claimed',
    'height_m', m.height_m,
    'storeys_from_height', m.storeys_from_height,
    'claimed_floor_area_m2', round(m.claimed_floor_area_m2::numeric, 2),
    'expected_floor_area_m2', round(m.expected_floor_area_m2::numeric, 2),
    'tolerance_m2', round(m.tolerance_m2::numeric, 2),
    'discrepancy_m2', round(m.discrepancy_m2::numeric, 2),
    'discrepancy_pct', round(m.discrepancy_pct::numeric, 2),
    'after_area_m2', round(m.after_area_m2::numeric, 2),
    'after_coverage', round(m.after_coverage::numeric, 4),
    'after_footprints', m.after_footprints,
    'after_source', m.after_source,
    'after_measured', m.after_measured,
    'baseline_confidence', round(m.baseline_confidence::numeric, 3),
    'after_confidence', round(m.after_confidence::numeric, 3),
    'min_footprint_confidence', CAST(:min_conf AS double precision),
    'imagery_flights', img.flights)"""

#: Imagery footprints are used by the area rules only when their extractor is at least this sure of them (the
#: area-weighted mean confidence of a building's footprints, ``area_metrics``); the rest are not measurable.
#: Overridable per rule in project.toml, ``[rules.AREA_INFLATED] min_footprint_confidence = 0.7``.
MIN_FOOTPRINT_CONFIDENCE = 0.6


def trusted_sql(phase: str) -> str:
    """Whether building ``m``'s ``phase`` footprints may be used: surveyed, or imagery sure enough (``:min_conf``)."""
    return f"(m.{phase}_confidence IS NULL OR m.{phase}_confidence >= :min_conf)"


#: The imagery flights that measured building ``m`` (the phases measured from imagery), as evidence: alias ``img``,
#: per flight its id, date, resolution and extractor, and the footprints it found on the outline with their
#: confidence (NULL when both phases are surveyed). Evaluated only for the alerted rows.
IMAGERY_JOIN_SQL = """LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'orthophoto_id', o.id, 'phase', o.phase, 'captured_on', o.captured_on,
               'resolution_m', round(o.resolution_m::numeric, 3),
               'extractor', o.ingest->>'footprints_extractor',
               'surface_model', o.ingest->'footprints_surface_model',
               'footprints', (SELECT jsonb_agg(jsonb_build_object(
                                  'footprint_id', f.footprint_id, 'confidence', f.confidence,
                                  'extractor', f.extractor, 'height_m', f.height_m,
                                  'overlap_m2', round(ST_Area(ST_Intersection(f.geom, b.geom))::numeric, 2))
                                  ORDER BY f.footprint_id)
                              FROM footprint f
                              WHERE f.orthophoto_id = o.id AND f.source = 'imagery' AND f.geom && b.geom
                                AND ST_Intersects(f.geom, b.geom)))
               ORDER BY o.phase DESC, o.captured_on, o.id) AS flights
    FROM building b JOIN orthophoto o ON o.project_id = b.project_id AND o.footprint && b.geom
    WHERE b.id = m.building_id AND o.status = 'ingested' AND ST_Intersects(o.footprint, b.geom)
      AND ((o.phase = 'baseline' AND m.baseline_source = 'imagery')
           OR (o.phase = 'after' AND m.after_source = 'imagery'))) img ON true"""


def min_confidence(model: Model, project: dict) -> float:
    """The ``min_footprint_confidence`` of ``model`` on ``project`` (its [rules] override or the default)."""
    overrides = (project.get("rules") or {}).get(model.code, {})
    return float(overrides.get("min_footprint_confidence", model.thresholds["min_footprint_confidence"]))


#: The latest comparison of two flights for the building ``m`` (``expro ortho change``), as evidence:
#: alias ``chg`` (NULL when the flights were never compared).
CHANGE_JOIN_SQL = """LEFT JOIN LATERAL (
    SELECT jsonb_build_object('baseline_ortho_id', cf.baseline_ortho_id, 'after_ortho_id', cf.after_ortho_id,
                              'changed_fraction', round(cf.changed_fraction::numeric, 4),
                              'observed_fraction', round(cf.observed_fraction::numeric, 4),
                              'changed_area_m2', round(cf.changed_area_m2::numeric, 2),
                              'computed_at', cf.computed_at) AS change
    FROM change_fraction cf
    WHERE cf.project_id = :p AND cf.subject_type = 'building'
      AND cf.subject_key = m.parcel_code || '/' || m.building_no
    ORDER BY cf.computed_at DESC LIMIT 1) chg ON true"""


def tolerance_json(tolerance: Tolerance) -> str:
    """The tolerance description as a JSON string for a bound parameter."""
    return json.dumps(tolerance.describe(), ensure_ascii=False)
