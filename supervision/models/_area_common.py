"""SQL fragments shared by the area rules (evidence of one building's figures)."""

from __future__ import annotations

import json

from gis_core.tolerance import Tolerance

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
    'after_measured', m.after_measured)"""


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
