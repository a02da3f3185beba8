"""NOT_AT_BASELINE: baseline footprints cover less than 20% of a claimed outline (built after the freeze, or invented)."""

from __future__ import annotations

from sqlalchemy import Connection

from supervision import area_metrics
from supervision.alerts import record_hits
from supervision.models._area_common import (
    CHANGE_JOIN_SQL, EVIDENCE_SQL, IMAGERY_JOIN_SQL, MIN_FOOTPRINT_CONFIDENCE,
    min_confidence, tolerance_json, trusted_sql)
from supervision.models.base import Model


def unmeasured(conn: Connection, project: dict) -> int:
    """Buildings no baseline measurement covers, or whose baseline imagery footprints are too unsure."""
    return area_metrics.not_measurable(conn, project, "baseline", min_confidence=min_confidence(MODEL, project))


def run(conn: Connection, project: dict, th: dict) -> int:
    """Alert every building whose baseline coverage is below ``min_baseline_coverage``, where a baseline
    measurement covers it (a building no measurement covers, or whose imagery footprints are less sure than
    ``min_footprint_confidence``, is not measurable, never "not there")."""
    tolerance = area_metrics.ensure(conn, project)
    return record_hits(conn, project["id"], MODEL.code, MODEL.subject_type, MODEL.severity, f"""
        SELECT m.parcel_code || '/' || m.building_no AS subject_key,
               format('房屋 %s/%s 征收前（冻结日前）影像/测量轮廓仅覆盖登记轮廓的 %s%%，低于 %s%%：疑似冻结后新建或虚构',
                      m.parcel_code, m.building_no, round((m.baseline_coverage * 100)::numeric, 1),
                      round((CAST(:min_cov AS numeric) * 100), 0)) AS message,
               {EVIDENCE_SQL} || jsonb_build_object('min_baseline_coverage', CAST(:min_cov AS double precision),
                                                    'tolerance', CAST(:tol AS jsonb),
                                                    'change_between_flights', chg.change) AS evidence
        FROM pg_temp.expro_area_metrics m
        {CHANGE_JOIN_SQL}
        {IMAGERY_JOIN_SQL}
        WHERE m.baseline_measured AND {trusted_sql("baseline")} AND m.baseline_coverage < :min_cov""",
        {"min_cov": float(th["min_baseline_coverage"]), "tol": tolerance_json(tolerance),
         "min_conf": float(th["min_footprint_confidence"])})


MODEL = Model(code="NOT_AT_BASELINE", dimension="time", subject_type="building", severity="report",
              title_zh="冻结前不存在的房屋",
              thresholds={"min_baseline_coverage": 0.20, "min_footprint_confidence": MIN_FOOTPRINT_CONFIDENCE},
              run_fn=run, unmeasured_fn=unmeasured)
