"""AREA_INFLATED: claimed floor area > M + tolerance(M), M = baseline footprint inside the outline × storeys."""

from __future__ import annotations

from sqlalchemy import Connection

from supervision import area_metrics
from supervision.alerts import record_hits
from supervision.models._area_common import (
    EVIDENCE_SQL, IMAGERY_JOIN_SQL, MIN_FOOTPRINT_CONFIDENCE, min_confidence,
    tolerance_json, trusted_sql)
from supervision.models.base import Model


def unmeasured(conn: Connection, project: dict) -> int:
    """Buildings no baseline measurement covers (neither a survey layer nor a measured baseline flight), or whose
    baseline imagery footprints are below ``min_footprint_confidence``."""
    return area_metrics.not_measurable(conn, project, "baseline", min_confidence=min_confidence(MODEL, project))


def run(conn: Connection, project: dict, th: dict) -> int:
    """Alert buildings claimed beyond the tolerance (not those already NOT_AT_BASELINE)."""
    tolerance = area_metrics.ensure(conn, project)
    return record_hits(conn, project["id"], MODEL.code, MODEL.subject_type, MODEL.severity, f"""
        SELECT m.parcel_code || '/' || m.building_no AS subject_key,
               CASE WHEN m.discrepancy_pct >= :report_pct THEN 'report' ELSE NULL END AS severity,
               format('房屋 %s/%s 核定建筑面积 %s㎡，按征收前轮廓 %s㎡ × %s 层 = %s㎡，限差 %s㎡，多报 %s㎡（%s%%）',
                      m.parcel_code, m.building_no, round(m.claimed_floor_area_m2::numeric, 2),
                      round(m.baseline_area_m2::numeric, 2), m.storeys_claimed,
                      round(m.expected_floor_area_m2::numeric, 2), round(m.tolerance_m2::numeric, 2),
                      round(m.discrepancy_m2::numeric, 2), round(m.discrepancy_pct::numeric, 1)) AS message,
               {EVIDENCE_SQL} || jsonb_build_object('excess_over_tolerance_m2',
                                                    round((m.discrepancy_m2 - m.tolerance_m2)::numeric, 2),
                                                    'tolerance', CAST(:tol AS jsonb)) AS evidence
        FROM pg_temp.expro_area_metrics m
        {IMAGERY_JOIN_SQL}
        WHERE m.baseline_measured AND {trusted_sql("baseline")} AND m.baseline_coverage >= :min_cov
          AND m.claimed_floor_area_m2 > m.expected_floor_area_m2 + m.tolerance_m2""",
        {"min_cov": float(th["min_baseline_coverage"]), "report_pct": float(th["report_above_pct"]),
         "tol": tolerance_json(tolerance), "min_conf": float(th["min_footprint_confidence"])})


MODEL = Model(code="AREA_INFLATED", dimension="numeric", subject_type="building", severity="internal",
              title_zh="虚增房屋面积", thresholds={"min_baseline_coverage": 0.20, "report_above_pct": 30.0,
                                                  "min_footprint_confidence": MIN_FOOTPRINT_CONFIDENCE},
              run_fn=run, unmeasured_fn=unmeasured)
