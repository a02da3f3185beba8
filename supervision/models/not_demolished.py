"""NOT_DEMOLISHED: the household was paid, the after flight covers the building, and it still stands (≥ 50%)."""

from __future__ import annotations

from sqlalchemy import Connection

from supervision import area_metrics
from supervision.alerts import record_hits
from supervision.models._area_common import (
    CHANGE_JOIN_SQL, EVIDENCE_SQL, IMAGERY_JOIN_SQL, MIN_FOOTPRINT_CONFIDENCE,
    min_confidence, tolerance_json, trusted_sql)
from supervision.models.base import Model, in_scope, in_scope_parcels


def unmeasured(conn: Connection, project: dict) -> int:
    """Paid buildings no after measurement covers, or whose after imagery footprints are too unsure."""
    return area_metrics.not_measurable(conn, project, "after", paid_only=True,
                                       min_confidence=min_confidence(MODEL, project))


def run(conn: Connection, project: dict, th: dict) -> int:
    """Alert paid buildings that after-flight footprints still cover (footprints at least
    ``min_footprint_confidence`` sure, where they come from imagery)."""
    tolerance = area_metrics.ensure(conn, project)
    return record_hits(conn, project["id"], MODEL.code, MODEL.subject_type, MODEL.severity, f"""
        WITH paid AS (
            SELECT c.building_id, sum(p.amount_yuan) AS paid_yuan, max(p.paid_on) AS last_paid_on,
                   array_agg(DISTINCT p.payment_id) AS payment_ids
            FROM claim c JOIN payment p ON p.household_id = c.household_id
            WHERE c.project_id = :p AND c.item_kind = 'building' AND c.building_id IS NOT NULL
              AND {in_scope_parcels('c.parcel_code')} AND {in_scope("c.parcel_code || '/' || c.building_no")}
            GROUP BY c.building_id)
        SELECT m.parcel_code || '/' || m.building_no AS subject_key,
               format('房屋 %s/%s 已支付补偿款 %s 元（%s），但征收后数据显示仍有 %s%% 未拆除',
                      m.parcel_code, m.building_no, paid.paid_yuan, paid.last_paid_on,
                      round((m.after_coverage * 100)::numeric, 1)) AS message,
               {EVIDENCE_SQL} || jsonb_build_object('paid_yuan', paid.paid_yuan, 'last_paid_on', paid.last_paid_on,
                                                    'payment_ids', to_jsonb(paid.payment_ids),
                                                    'after_flight_ids', to_jsonb(after_flight.ids),
                                                    'min_after_coverage', CAST(:min_cov AS double precision),
                                                    'tolerance', CAST(:tol AS jsonb),
                                                    'change_between_flights', chg.change) AS evidence
        FROM pg_temp.expro_area_metrics m
        {CHANGE_JOIN_SQL}
        {IMAGERY_JOIN_SQL}
        JOIN building b ON b.id = m.building_id
        JOIN paid ON paid.building_id = m.building_id
        LEFT JOIN LATERAL (
            SELECT array_agg(o.id ORDER BY o.id) AS ids FROM orthophoto o
            WHERE o.project_id = :p AND o.phase = 'after' AND ST_Covers(o.footprint, b.geom)) after_flight ON true
        WHERE m.after_measured AND {trusted_sql("after")} AND m.after_coverage >= :min_cov""",
        {"min_cov": float(th["min_after_coverage"]), "tol": tolerance_json(tolerance),
         "min_conf": float(th["min_footprint_confidence"])})


MODEL = Model(code="NOT_DEMOLISHED", dimension="effect", subject_type="building", severity="internal",
              title_zh="已补偿未拆除",
              thresholds={"min_after_coverage": 0.50, "min_footprint_confidence": MIN_FOOTPRINT_CONFIDENCE},
              run_fn=run, unmeasured_fn=unmeasured)
