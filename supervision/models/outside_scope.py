"""OUTSIDE_SCOPE: less than 50% of a claimed parcel lies inside the expropriation scope."""

from __future__ import annotations

from sqlalchemy import Connection, text

from supervision.alerts import case_scope, record_hits
from supervision.models.base import Model, in_scope


def _scope_parcel_ids(conn: Connection, project_id: int) -> list[int] | None:
    """In a check on one case, the ids of its parcels (given to ``expro_parcel_inside_scope`` as a value: a
    subquery there would keep the function from being inlined); None in a batch check."""
    scope = case_scope(conn)
    if scope is None:
        return None
    return list(conn.execute(text("SELECT id FROM parcel WHERE project_id = :p AND parcel_code = ANY(:codes)"),
                             {"p": project_id, "codes": scope.keys.get("parcel", [])}).scalars())


def run(conn: Connection, project: dict, th: dict) -> int:
    """Alert claimed parcels mostly outside the scope."""
    return record_hits(conn, project["id"], MODEL.code, MODEL.subject_type, MODEL.severity, f"""
        WITH claimed AS (
            SELECT parcel_id, count(*) AS claims, sum(amount_yuan) AS claimed_yuan
            FROM claim WHERE project_id = :p AND {in_scope('parcel_code')} GROUP BY parcel_id)
        SELECT s.parcel_code AS subject_key,
               format('宗地 %s 仅 %s%% 位于征收范围内（低于 %s%%），却有 %s 项补偿共 %s 元',
                      s.parcel_code, round((s.inside_fraction * 100)::numeric, 1),
                      round(CAST(:min_frac AS numeric) * 100, 0), claimed.claims, claimed.claimed_yuan) AS message,
               jsonb_build_object('parcel_code', s.parcel_code, 'parcel_area_m2', round(s.area_m2::numeric, 2),
                                  'inside_scope_m2', round(s.inside_m2::numeric, 2),
                                  'inside_scope_fraction', round(s.inside_fraction::numeric, 4),
                                  'min_inside_fraction', CAST(:min_frac AS double precision),
                                  'claims', claimed.claims, 'claimed_yuan', claimed.claimed_yuan) AS evidence
        FROM expro_parcel_inside_scope(:p, CAST(:parcel_ids AS bigint[])) s JOIN claimed ON claimed.parcel_id = s.parcel_id
        WHERE s.inside_fraction < :min_frac""",
        {"min_frac": float(th["min_inside_fraction"]), "parcel_ids": _scope_parcel_ids(conn, project["id"])})


MODEL = Model(code="OUTSIDE_SCOPE", dimension="space", subject_type="parcel", severity="internal",
              title_zh="征收范围外的宗地", thresholds={"min_inside_fraction": 0.50}, run_fn=run)
