"""A report run: the project's alert set frozen for one period, with its inputs and figures, in the database.

A period (``YYYY-MM``) is reported once: the first run freezes every alert of the project into ``report_item``
(state, verdict, village, claimed and measured floor areas, unit price, money at stake), records the SHA-256 of
that alert set and the versions of the data behind it (package, registry extracts, flights, the last check) in
``report_run``, and every later report of the same period renders those stored rows again: the same period
always gives the same figures. ``recompute`` supersedes the stored run with a new one (only for the latest
period: an earlier period's state is not reconstructed from today's data).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, text

from reports.errors import ReportInputError

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: The rules whose money at stake is their area discrepancy × the building's unit price.
AREA_RULES = ("AREA_INFLATED", "NOT_AT_BASELINE")
#: Every rule whose subject is a building carries claimed (and, for the area rules, measured) floor areas.
CHINA = dt.timezone(dt.timedelta(hours=8))


def current_period(today: dt.date | None = None) -> str:
    """The month of ``today`` (China time by default) as ``YYYY-MM``."""
    today = today or dt.datetime.now(CHINA).date()
    return f"{today.year:04d}-{today.month:02d}"


def check_period(period: str, today: dt.date | None = None) -> str:
    """``period`` when it is a ``YYYY-MM`` month not after the current one (ReportInputError otherwise)."""
    if not PERIOD_RE.match(period or ""):
        raise ReportInputError(f"报告期应为 YYYY-MM / the period must be YYYY-MM, got {period!r}")
    if period > current_period(today):
        raise ReportInputError(f"报告期 {period} 尚未开始 / the period {period} has not begun")
    return period


@dataclass(frozen=True)
class Run:
    """A stored report run."""

    id: int
    project_id: int
    project_code: str
    project_name: str
    period: str
    engine: str
    taken_at: dt.datetime
    alert_set_sha256: str
    data_versions: dict
    figures: dict
    previous_run_id: int | None
    reused: bool = False


_ITEMS_SQL = """
    INSERT INTO report_item (run_id, alert_id, rule_code, severity, subject_type, subject_key, message, state, verdict,
                             firing, is_open, assignee, village_code, village_name, household_no,
                             claimed_floor_area_m2, measured_floor_area_m2, tolerance_m2, discrepancy_m2,
                             unit_price_yuan, money_at_stake_yuan, amount_recovered_yuan, first_seen_at, evidence)
    WITH a AS MATERIALIZED (
        SELECT a.*, u.username AS assignee FROM alert a LEFT JOIN app_user u ON u.id = a.assignee_user_id
        WHERE a.project_id = :p),
    bld AS (
        SELECT b.id, b.parcel_code || '/' || b.building_no AS key, b.claimed_floor_area_m2, pa.village_code,
               pa.household_no
        FROM building b JOIN parcel pa ON pa.id = b.parcel_id
        WHERE b.project_id = :p
          AND b.parcel_code || '/' || b.building_no IN (SELECT subject_key FROM a WHERE subject_type = 'building')),
    price AS (
        SELECT c.building_id, max(c.unit_price_yuan) AS unit_price_yuan, min(c.household_no) AS household_no
        FROM claim c WHERE c.project_id = :p AND c.item_kind = 'building' AND c.building_id IN (SELECT id FROM bld)
        GROUP BY c.building_id),
    hh AS (
        SELECT ah.alert_id, min(h.household_no) AS household_no, min(h.village_code) AS village_code
        FROM alert_household ah JOIN household h ON h.id = ah.household_id
        WHERE ah.alert_id IN (SELECT id FROM a WHERE subject_type NOT IN ('building', 'parcel'))
        GROUP BY ah.alert_id),
    x AS (
        SELECT a.*, COALESCE(bld.village_code, pa.village_code, hh.village_code) AS vcode,
               COALESCE(price.household_no, bld.household_no, pa.household_no, hh.household_no) AS hno,
               CASE WHEN a.subject_type = 'building'
                    THEN COALESCE((a.evidence->>'claimed_floor_area_m2')::numeric, bld.claimed_floor_area_m2) END
                 AS claimed,
               (a.evidence->>'expected_floor_area_m2')::numeric AS measured,
               (a.evidence->>'tolerance_m2')::numeric AS tol,
               (a.evidence->>'discrepancy_m2')::numeric AS disc,
               price.unit_price_yuan AS price
        FROM a
        LEFT JOIN bld ON a.subject_type = 'building' AND bld.key = a.subject_key
        LEFT JOIN price ON price.building_id = bld.id
        LEFT JOIN parcel pa ON a.subject_type = 'parcel' AND pa.project_id = :p AND pa.parcel_code = a.subject_key
        LEFT JOIN hh ON hh.alert_id = a.id)
    SELECT :run, x.id, x.rule_code, x.severity, x.subject_type, x.subject_key, x.message, x.state, x.verdict,
           x.firing, x.state <> 'closed' AND (x.firing OR x.state <> 'new'), x.assignee, x.vcode, v.name, x.hno,
           x.claimed, x.measured, x.tol, x.disc, x.price,
           CASE WHEN x.rule_code = ANY(:area_rules) AND x.disc IS NOT NULL AND x.price IS NOT NULL
                THEN round(greatest(x.disc, 0) * x.price, 2) END,
           x.amount_recovered_yuan, x.first_seen_at, x.evidence
    FROM x LEFT JOIN admin_unit v ON v.project_id = :p AND v.level = 'village' AND v.code = x.vcode"""

_HASH_SQL = """
    SELECT encode(sha256(convert_to(COALESCE(string_agg(concat_ws(E'\\t', rule_code, subject_type, subject_key,
               severity, state, COALESCE(verdict, ''), firing::text, message, evidence::text), E'\\n'
               ORDER BY rule_code, subject_type, subject_key), ''), 'UTF8')), 'hex')
    FROM report_item WHERE run_id = :run"""

_VERSIONS_SQL = """
    SELECT jsonb_build_object(
        'project', (SELECT jsonb_build_object('source_sha256', pr.source_sha256, 'imported_at', pr.imported_at)
                    FROM project pr WHERE pr.id = :p),
        'registry_extracts', (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', r.id, 'sha256', r.sha256,
                                  'rows', r.row_count, 'imported_at', r.imported_at) ORDER BY r.id), '[]'::jsonb)
                              FROM registry_extract r WHERE r.project_id = :p OR r.project_id IS NULL),
        'orthophotos', (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', o.id, 'phase', o.phase,
                            'sha256', o.sha256, 'status', o.status, 'captured_on', o.captured_on) ORDER BY o.id),
                            '[]'::jsonb) FROM orthophoto o WHERE o.project_id = :p),
        'last_check', (SELECT jsonb_build_object('audit_seq', e.seq, 'recorded_at', e.recorded_at)
                       FROM audit_event e WHERE e.action = 'check.run' AND e.object_type = 'project'
                         AND e.object_key = :code ORDER BY e.seq DESC LIMIT 1),
        'counts', jsonb_build_object(
            'buildings', (SELECT count(*) FROM building WHERE project_id = :p),
            'footprints', (SELECT count(*) FROM footprint WHERE project_id = :p),
            'claims', (SELECT count(*) FROM claim WHERE project_id = :p),
            'alerts', (SELECT count(*) FROM alert WHERE project_id = :p)))"""


def _project(conn: Connection, code: str) -> dict:
    row = conn.execute(text("SELECT id, code, name FROM project WHERE code = :c"), {"c": code}).mappings().one_or_none()
    if row is None:
        raise ReportInputError(f"项目 {code!r} 不存在 / no project {code!r}")
    return dict(row)


def find_run(conn: Connection, project_code: str, period: str) -> Run | None:
    """The stored (not superseded) run of ``project_code`` for ``period``, or None."""
    project = _project(conn, project_code)
    row = conn.execute(text("SELECT * FROM report_run WHERE project_id = :p AND period = :per AND NOT superseded"),
                       {"p": project["id"], "per": period}).mappings().one_or_none()
    return None if row is None else _run(row, project, reused=True)


def _run(row, project: dict, *, reused: bool = False) -> Run:
    return Run(id=row["id"], project_id=project["id"], project_code=project["code"], project_name=project["name"],
               period=row["period"], engine=row["engine"], taken_at=row["taken_at"],
               alert_set_sha256=row["alert_set_sha256"], data_versions=row["data_versions"], figures=row["figures"],
               previous_run_id=row["previous_run_id"], reused=reused)


def take(conn: Connection, project_code: str, period: str, *, engine: str = "local", recompute: bool = False,
         today: dt.date | None = None) -> Run:
    """The run of ``project_code`` for ``period``: the stored one, or a new one frozen from the alerts now.

    A new run is taken only for the latest period reported (a later period's run existing, an earlier period
    cannot be taken from today's alerts: ReportInputError). With ``recompute``, the stored run of the period is
    superseded (kept, marked) by a new one.
    """
    import json

    from supervision.alerts import statistics

    check_period(period, today)
    project = _project(conn, project_code)
    stored = find_run(conn, project_code, period)
    if stored is not None and not recompute:
        return stored
    later = conn.execute(text("SELECT max(period) FROM report_run WHERE project_id = :p AND NOT superseded "
                              "AND period > :per"), {"p": project["id"], "per": period}).scalar()
    if later is not None:
        raise ReportInputError(f"已有更晚的报告期 {later}，不能按今天的数据补做 {period} / a report of {later} exists: "
                               f"{period} cannot be taken from today's data")
    if stored is not None:
        conn.execute(text("UPDATE report_run SET superseded = true WHERE id = :i"), {"i": stored.id})
    previous = conn.execute(text("SELECT id FROM report_run WHERE project_id = :p AND NOT superseded AND period < :per "
                                 "ORDER BY period DESC LIMIT 1"), {"p": project["id"], "per": period}).scalar()
    versions = conn.execute(text(_VERSIONS_SQL), {"p": project["id"], "code": project_code}).scalar_one()
    versions = {**versions, "engine": engine}
    run_id = conn.execute(text("""
        INSERT INTO report_run (project_id, period, engine, alert_set_sha256, data_versions, figures, previous_run_id)
        VALUES (:p, :per, :eng, repeat('0', 64), CAST(:v AS jsonb), '{}'::jsonb, :prev) RETURNING id"""),
        {"p": project["id"], "per": period, "eng": engine, "v": json.dumps(versions, default=str),
         "prev": previous}).scalar_one()
    conn.execute(text(_ITEMS_SQL), {"run": run_id, "p": project["id"], "area_rules": list(AREA_RULES)})
    digest = conn.execute(text(_HASH_SQL), {"run": run_id}).scalar_one()
    hit_rates = {r["rule_code"]: {"confirmed": r["confirmed"], "unfounded": r["unfounded"], "hit_rate": r["hit_rate"],
                                  "recovered_yuan": r["recovered_yuan"]} for r in statistics(conn, project_code)}
    items = load_items(conn, run_id, previous)
    figures = compute_figures(items, hit_rates)
    conn.execute(text("UPDATE report_run SET alert_set_sha256 = :h, figures = CAST(:f AS jsonb) WHERE id = :i"),
                 {"h": digest, "f": json.dumps(figures, default=str, ensure_ascii=False), "i": run_id})
    row = conn.execute(text("SELECT * FROM report_run WHERE id = :i"), {"i": run_id}).mappings().one()
    return _run(row, project)


def load_items(conn: Connection, run_id: int, previous_run_id: int | None) -> pd.DataFrame:
    """The run's items with their change against the previous run (``change``: new, still_open, resolved or
    empty), ordered by rule and subject; items of the previous run absent now are resolved rows too."""
    rows = conn.execute(text("""
        SELECT COALESCE(cur.rule_code, prev.rule_code) AS rule_code,
               COALESCE(cur.subject_type, prev.subject_type) AS subject_type,
               COALESCE(cur.subject_key, prev.subject_key) AS subject_key,
               COALESCE(cur.alert_id, prev.alert_id) AS alert_id,
               COALESCE(cur.severity, prev.severity) AS severity, COALESCE(cur.message, prev.message) AS message,
               COALESCE(cur.state, prev.state) AS state, COALESCE(cur.verdict, prev.verdict) AS verdict,
               COALESCE(cur.firing, false) AS firing, COALESCE(cur.is_open, false) AS is_open,
               COALESCE(cur.assignee, prev.assignee) AS assignee,
               COALESCE(cur.village_code, prev.village_code) AS village_code,
               COALESCE(cur.village_name, prev.village_name) AS village_name,
               COALESCE(cur.household_no, prev.household_no) AS household_no,
               COALESCE(cur.claimed_floor_area_m2, prev.claimed_floor_area_m2) AS claimed_floor_area_m2,
               COALESCE(cur.measured_floor_area_m2, prev.measured_floor_area_m2) AS measured_floor_area_m2,
               COALESCE(cur.tolerance_m2, prev.tolerance_m2) AS tolerance_m2,
               COALESCE(cur.discrepancy_m2, prev.discrepancy_m2) AS discrepancy_m2,
               COALESCE(cur.unit_price_yuan, prev.unit_price_yuan) AS unit_price_yuan,
               COALESCE(cur.money_at_stake_yuan, prev.money_at_stake_yuan) AS money_at_stake_yuan,
               COALESCE(cur.amount_recovered_yuan, prev.amount_recovered_yuan) AS amount_recovered_yuan,
               COALESCE(cur.first_seen_at, prev.first_seen_at) AS first_seen_at,
               COALESCE(cur.evidence, prev.evidence) AS evidence,
               cur.run_id IS NOT NULL AS in_run, COALESCE(prev.is_open, false) AS was_open,
               CASE WHEN cur.is_open AND NOT COALESCE(prev.is_open, false) THEN 'new'
                    WHEN cur.is_open AND prev.is_open THEN 'still_open'
                    WHEN prev.is_open AND NOT COALESCE(cur.is_open, false) THEN 'resolved'
                    ELSE '' END AS change
        FROM (SELECT * FROM report_item WHERE run_id = :run) cur
        FULL JOIN (SELECT * FROM report_item WHERE run_id = CAST(:prev AS bigint)) prev
          ON prev.rule_code = cur.rule_code AND prev.subject_type = cur.subject_type
         AND prev.subject_key = cur.subject_key
        ORDER BY 1, 2, 3"""), {"run": run_id, "prev": previous_run_id}).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=ITEM_COLUMNS)
    for col in NUMERIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


ITEM_COLUMNS = ["rule_code", "subject_type", "subject_key", "alert_id", "severity", "message", "state", "verdict",
                "firing", "is_open", "assignee", "village_code", "village_name", "household_no",
                "claimed_floor_area_m2", "measured_floor_area_m2", "tolerance_m2", "discrepancy_m2", "unit_price_yuan",
                "money_at_stake_yuan", "amount_recovered_yuan", "first_seen_at", "evidence", "in_run", "was_open",
                "change"]
NUMERIC_COLUMNS = ["claimed_floor_area_m2", "measured_floor_area_m2", "tolerance_m2", "discrepancy_m2",
                   "unit_price_yuan", "money_at_stake_yuan", "amount_recovered_yuan"]


def _r2(x: float) -> float:
    return round(float(x), 2)


def compute_figures(items: pd.DataFrame, hit_rates: dict) -> dict:
    """The summary figures of a run: totals, per rule, per village, the change against the previous run."""
    cur = items[items["in_run"]]
    open_ = cur[cur["is_open"]]
    area = open_[open_["rule_code"].isin(AREA_RULES)]

    def block(frame: pd.DataFrame) -> dict:
        a = frame[frame["rule_code"].isin(AREA_RULES)]
        return {"open": int(len(frame)), "buildings": int(a["subject_key"].nunique()),
                "claimed_m2": _r2(a["claimed_floor_area_m2"].sum()),
                "measured_m2": _r2(a["measured_floor_area_m2"].sum()),
                "discrepancy_m2": _r2(a["discrepancy_m2"].clip(lower=0).sum()),
                "money_at_stake_yuan": _r2(a["money_at_stake_yuan"].sum())}

    by_rule = {}
    for rule, frame in open_.groupby("rule_code", sort=True):
        by_rule[str(rule)] = {**block(frame), "confirmed": int((frame["verdict"] == "confirmed").sum()),
                              "unfounded": int((frame["verdict"] == "unfounded").sum())}
    by_village = {}
    named = open_.assign(village=open_["village_name"].fillna(open_["village_code"]).fillna("（未定位）"))
    for village, frame in named.groupby("village", sort=True):
        by_village[str(village)] = block(frame)
    change = items["change"].value_counts().to_dict()
    totals = block(open_)
    totals["alerts"] = int(len(cur))
    totals["area_alerts"] = int(len(area))
    return {"totals": totals, "by_rule": by_rule, "by_village": by_village,
            "change": {k: int(change.get(k, 0)) for k in ("new", "still_open", "resolved")},
            "hit_rates": hit_rates}


def trend(conn: Connection, project_id: int, period: str) -> list[dict]:
    """Per earlier run of the project up to ``period`` (not superseded): period and its totals and change."""
    rows = conn.execute(text("""
        SELECT period, figures FROM report_run WHERE project_id = :p AND NOT superseded AND period <= :per
        ORDER BY period"""), {"p": project_id, "per": period}).mappings().all()
    return [{"period": r["period"], **(r["figures"].get("totals") or {}), **(r["figures"].get("change") or {})}
            for r in rows]


def record_outputs(conn: Connection, run_id: int, outputs: list[dict]) -> None:
    """Remember the files written from a run (name, SHA-256, bytes)."""
    import json

    conn.execute(text("UPDATE report_run SET outputs = CAST(:o AS jsonb) WHERE id = :i"),
                 {"o": json.dumps(outputs), "i": run_id})
