"""Public disclosure (clause 5.5.6): the published compensation results, masked, and the public's complaints.

A result is published once its case has reached the ``publication`` stage (公示: that stage is no longer
``locked``). What the public sees of a household: its number, village, the head's name and ID number masked
as usual in China (张*, 110101********1234), each building's area and the total compensation (the quantity
record, or the claims as registered while there is none). Nothing else about a person ever leaves here.

A complaint (投诉) is stored with only a keyed SHA-256 of the client's address (for the rate limit),
routed to the inspectors' queue as a ``report`` alert of rule ``PUBLIC_COMPLAINT`` and audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from supervision import audit
from supervision.accounts import mask_id_number, mask_name
from supervision.errors import SupervisionError
from supervision.identity import china_today

#: The rule code and severity of the alert a complaint raises (the inspectors' inbox shows ``report``).
COMPLAINT_RULE = "PUBLIC_COMPLAINT"
COMPLAINT_SEVERITY = "report"
#: Rate limits: per client address and per project, over a sliding hour.
CLIENT_LIMIT_PER_HOUR = 5
PROJECT_LIMIT_PER_HOUR = 200
WINDOW = dt.timedelta(hours=1)
#: Length limits of a complaint's fields (characters).
NAME_MAX, CONTACT_MAX, TEXT_MIN, TEXT_MAX, HOUSEHOLD_MAX = 50, 100, 5, 2000, 64
#: How many complaint ids an alert's evidence keeps (the complaint rows keep them all).
EVIDENCE_IDS = 50
PUBLISHED_STAGE = "publication"
#: Said on the page when the project names no office for complaints.
GENERIC_OFFICE_ZH = ("如对公示结果有异议，请在公示期内通过本页表单提交投诉，或向项目所在区（县）纪委监委、"
                     "征收实施单位书面反映。")


class DisclosureError(SupervisionError):
    """A public request that cannot be carried out; the message is bilingual and safe to show anyone."""


class ComplaintRefusedError(DisclosureError, ValueError):
    """A complaint whose fields are missing, too long, or name a household that is not published."""


class RateLimitedError(DisclosureError):
    """Too many complaints from this client or for this project in the last hour."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def office(project: dict) -> dict[str, str | None]:
    """Where to complain: project.toml ``[disclosure]`` (``office_name``, ``office_address``, ``office_phone``,
    stored in the project's case settings) when present, else None (the page shows :data:`GENERIC_OFFICE_ZH`)."""
    config = (project.get("case_config") or {}).get("disclosure") or {}
    if not isinstance(config, dict):
        config = {}
    def text_of(key: str) -> str | None:
        value = config.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    return {"name": text_of("office_name"), "address": text_of("office_address"), "phone": text_of("office_phone")}


# --- published results ---------------------------------------------------------------------------------------

def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_PUBLISHED = """
    FROM case_file cf
    JOIN case_stage ps ON ps.case_id = cf.id AND ps.code = :pub AND ps.state <> 'locked'
    JOIN household h ON h.project_id = cf.project_id AND h.household_no = cf.household_no
    LEFT JOIN admin_unit v ON v.project_id = cf.project_id AND v.level = 'village' AND v.code = h.village_code
    WHERE cf.project_id = :p AND cf.state <> 'withdrawn'
      AND (CAST(:village AS text) IS NULL OR h.village_code = :village OR v.name = :village)
      AND (CAST(:q AS text) IS NULL OR h.household_no LIKE :q_prefix OR h.head_name = :q)"""


def published_results(conn: Connection, project: dict, *, village: str | None = None, q: str | None = None,
                      limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    """The published results (how many match, and one page of them), masked for the public.

    ``village`` is a village code or name; ``q`` a household number (or its beginning) or the head's full
    name exactly (a partial name finds nothing, so the masked names cannot be guessed letter by letter)."""
    village = (village or "").strip() or None
    q = (q or "").strip() or None
    params = {"p": project["id"], "pub": PUBLISHED_STAGE, "village": village, "q": q,
              "q_prefix": _like_prefix(q) if q else None}
    total = int(conn.execute(text(f"SELECT count(*) {_PUBLISHED}"), params).scalar_one())
    rows = conn.execute(text(f"""
        WITH page AS (
            SELECT cf.id, cf.household_no, cf.case_type, h.village_code, COALESCE(v.name, h.village_code) AS village_name,
                   h.head_name, h.head_id_number, ps.opened_on AS published_on
            {_PUBLISHED}
            ORDER BY cf.household_no LIMIT :limit OFFSET :offset),
        qty AS (SELECT q.case_id, q.item_kind, q.parcel_code, q.building_no, q.structure_type, q.storeys,
                       q.quantity, q.unit, q.amount_yuan
                FROM case_quantity q JOIN page ON page.id = q.case_id),
        lines AS (
            SELECT page.id, qty.item_kind, qty.parcel_code, qty.building_no, qty.structure_type, qty.storeys,
                   qty.quantity, qty.unit, qty.amount_yuan FROM page JOIN qty ON qty.case_id = page.id
            UNION ALL
            SELECT page.id, c.item_kind, c.parcel_code, c.building_no, b.structure_type, b.storeys, c.quantity,
                   c.unit, c.amount_yuan
            FROM page JOIN claim c ON c.project_id = :p AND c.household_no = page.household_no
            LEFT JOIN building b ON b.id = c.building_id
            WHERE NOT EXISTS (SELECT 1 FROM qty WHERE qty.case_id = page.id))
        SELECT page.household_no, page.case_type, page.village_code, page.village_name, page.head_name,
               page.head_id_number, page.published_on,
               COALESCE((SELECT sum(l.amount_yuan) FROM lines l WHERE l.id = page.id), 0) AS total_yuan,
               COALESCE((SELECT json_agg(json_build_object(
                            'building', CASE WHEN l.parcel_code IS NULL THEN l.building_no
                                             ELSE l.parcel_code || '/' || l.building_no END,
                            'structure_type', l.structure_type, 'storeys', l.storeys,
                            'floor_area_m2', CAST(round(l.quantity, 2) AS text)) ORDER BY l.parcel_code, l.building_no)
                         FROM lines l WHERE l.id = page.id AND l.item_kind = 'building'), '[]'::json) AS buildings
        FROM page ORDER BY page.household_no"""), {**params, "limit": limit, "offset": offset}).mappings()
    out = []
    for r in rows:
        buildings = [{"building": b["building"], "structure_type": b["structure_type"], "storeys": b["storeys"],
                      "floor_area_m2": Decimal(b["floor_area_m2"])} for b in (r["buildings"] or [])]
        out.append({"household_no": r["household_no"], "case_type": r["case_type"],
                    "village_code": r["village_code"], "village_name": r["village_name"],
                    "head_name_masked": mask_name(r["head_name"]),
                    "head_id_number_masked": mask_id_number(r["head_id_number"]),
                    "published_on": r["published_on"], "buildings": buildings,
                    "building_area_m2": sum((b["floor_area_m2"] for b in buildings), Decimal("0")),
                    "total_yuan": Decimal(r["total_yuan"])})
    return total, out


def villages(conn: Connection, project: dict) -> list[dict]:
    """The project's villages (code, name) for the page's filter."""
    rows = conn.execute(text("SELECT code, name FROM admin_unit WHERE project_id = :p AND level = 'village' "
                             "ORDER BY code"), {"p": project["id"]}).mappings()
    return [dict(r) for r in rows]


def is_published(conn: Connection, project: dict, household_no: str) -> bool:
    """Whether the household's result is published."""
    return bool(conn.execute(text(f"SELECT EXISTS (SELECT 1 {_PUBLISHED} AND cf.household_no = :hh)"),
                             {"p": project["id"], "pub": PUBLISHED_STAGE, "village": None, "q": None,
                              "q_prefix": None, "hh": household_no}).scalar())


# --- complaints ----------------------------------------------------------------------------------------------

def client_digest(address: str | None, key: str) -> str:
    """The keyed SHA-256 (HMAC) of a client address: what the rate limit counts, never the address itself."""
    return hmac.new(key.encode("utf-8"), (address or "unknown").encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ComplaintRequest:
    """A complaint as the public sends it."""

    project_code: str
    name: str
    contact: str
    text: str
    household_no: str | None = None


def _field(value: str | None, what_zh: str, what: str, max_len: int, min_len: int = 1) -> str:
    value = (value or "").strip()
    if len(value) < min_len:
        raise ComplaintRefusedError(f"请填写{what_zh}（至少 {min_len} 个字）/ {what} needs at least {min_len} "
                                    "character(s)")
    if len(value) > max_len:
        raise ComplaintRefusedError(f"{what_zh}不能超过 {max_len} 个字 / {what} is longer than {max_len} characters")
    return value


def _retry_after(conn: Connection, where: str, params: dict, now: dt.datetime) -> int:
    oldest = conn.execute(text(f"SELECT min(created_at) FROM complaint WHERE {where} AND created_at > :since"),
                          params).scalar()
    if oldest is None:
        return 60
    return max(1, math.ceil((oldest + WINDOW - now).total_seconds()))


def _rate_limit(conn: Connection, project_id: int, digest: str) -> None:
    """RateLimitedError past :data:`CLIENT_LIMIT_PER_HOUR` per client or :data:`PROJECT_LIMIT_PER_HOUR` per
    project (serialised per project by a transaction lock, so concurrent requests cannot slip past)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('expro.complaint'), CAST(:p AS int))"),
                 {"p": project_id % 2_147_483_647})
    now = conn.execute(text("SELECT now()")).scalar_one()
    since = now - WINDOW
    by_client = conn.execute(text("SELECT count(*) FROM complaint WHERE client_digest = :d AND created_at > :since"),
                             {"d": digest, "since": since}).scalar_one()
    if by_client >= CLIENT_LIMIT_PER_HOUR:
        wait = _retry_after(conn, "client_digest = :d", {"d": digest, "since": since}, now)
        raise RateLimitedError(f"提交过于频繁，请 {math.ceil(wait / 60)} 分钟后再试 / too many complaints from "
                               f"this address, try again in {wait} s", wait)
    by_project = conn.execute(text("SELECT count(*) FROM complaint WHERE project_id = :p AND created_at > :since"),
                              {"p": project_id, "since": since}).scalar_one()
    if by_project >= PROJECT_LIMIT_PER_HOUR:
        wait = _retry_after(conn, "project_id = :p", {"p": project_id, "since": since}, now)
        raise RateLimitedError(f"本项目投诉提交繁忙，请 {math.ceil(wait / 60)} 分钟后再试 / too many complaints for "
                               f"this project, try again in {wait} s", wait)


def _raise_alert(conn: Connection, project: dict, complaint_id: int, household_no: str | None, body: str,
                 name: str, contact: str) -> int:
    """Route the complaint to the inspectors' queue: a ``report`` alert on the household (one alert per
    household gathers its complaints; a new complaint makes it fire again and reopens it if it was closed).
    A complaint naming no household gets an alert of its own (subject ``household``, key ``complaint:<id>``)."""
    key = household_no if household_no else f"complaint:{complaint_id}"
    message = (f"公众投诉（户号 {household_no}）/ public complaint about household {household_no}" if household_no
               else "公众投诉（未指明户号）/ public complaint naming no household")
    latest = {"complaint_id": complaint_id, "complainant_name": name, "contact": contact, "text": body[:500]}
    row = conn.execute(text("""
        INSERT INTO alert AS a (project_id, rule_code, severity, subject_type, subject_key, message, evidence,
                                firing, first_seen_at, last_seen_at)
        VALUES (:p, :rule, :sev, 'household', :key, :msg,
                jsonb_build_object('complaint_ids', jsonb_build_array(CAST(:cid AS bigint)), 'complaints', 1,
                                   'latest', CAST(:latest AS jsonb)), true, now(), now())
        ON CONFLICT (project_id, rule_code, subject_type, subject_key) DO UPDATE
           SET severity = EXCLUDED.severity, message = EXCLUDED.message, firing = true, last_seen_at = now(),
               evidence = jsonb_build_object(
                   'complaint_ids', (SELECT COALESCE(jsonb_agg(x ORDER BY o), '[]'::jsonb) FROM (
                        SELECT x, o FROM jsonb_array_elements(
                            COALESCE(a.evidence->'complaint_ids', '[]'::jsonb) || jsonb_build_array(CAST(:cid AS bigint)))
                            WITH ORDINALITY AS e(x, o) ORDER BY o DESC LIMIT :keep) k),
                   'complaints', COALESCE(CAST(a.evidence->>'complaints' AS int), 0) + 1,
                   'latest', CAST(:latest AS jsonb))
        RETURNING a.id, a.state"""),
        {"p": project["id"], "rule": COMPLAINT_RULE, "sev": COMPLAINT_SEVERITY, "key": key, "msg": message,
         "cid": complaint_id, "latest": json.dumps(latest, ensure_ascii=False),
         "keep": EVIDENCE_IDS}).mappings().one()
    if row["state"] == "closed":                # a new complaint reopens a closed one, on record
        conn.execute(text("UPDATE alert SET state = 'new' WHERE id = :i"), {"i": row["id"]})
        conn.execute(text("INSERT INTO alert_event (alert_id, from_state, to_state, user_id, opinion, acted_on) "
                          "VALUES (:i, 'closed', 'new', NULL, :o, :d)"),
                     {"i": row["id"], "o": f"新的公众投诉 {complaint_id} / a new public complaint",
                      "d": china_today()})
    return int(row["id"])


def submit_complaint(conn: Connection, project: dict, req: ComplaintRequest, digest: str) -> dict:
    """Store a complaint, route it to the inspectors and audit it (ComplaintRefusedError, RateLimitedError).

    ``digest`` is :func:`client_digest` of the sender's address."""
    name = _field(req.name, "姓名", "name", NAME_MAX)
    contact = _field(req.contact, "联系方式", "contact", CONTACT_MAX)
    body = _field(req.text, "投诉内容", "text", TEXT_MAX, TEXT_MIN)
    household_no = (req.household_no or "").strip() or None
    if household_no is not None:
        if len(household_no) > HOUSEHOLD_MAX or not is_published(conn, project, household_no):
            raise ComplaintRefusedError("该户号没有公示结果 / no published result has this household number")
    _rate_limit(conn, project["id"], digest)
    row = conn.execute(text("""
        INSERT INTO complaint (project_id, household_no, complainant_name, contact, body, client_digest)
        VALUES (:p, :h, :n, :c, :b, :d) RETURNING id, state, created_at"""),
        {"p": project["id"], "h": household_no, "n": name, "c": contact, "b": body, "d": digest}).mappings().one()
    alert_id = _raise_alert(conn, project, int(row["id"]), household_no, body, name, contact)
    audit.append(conn, actor="public", action="complaint.submit", object_type="complaint",
                 object_key=str(row["id"]), result="stored",
                 details={"project": project["code"], "household_no": household_no, "alert_id": alert_id,
                          "client_digest": digest, "text_sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
                          "text_chars": len(body)})
    return {"complaint_id": int(row["id"]), "project_code": project["code"], "household_no": household_no,
            "state": row["state"], "received_at": row["created_at"]}


def complaint_counts(conn: Connection, project_id: int) -> dict[str, Any]:
    """How many complaints the project has, by state (for the inspectors and the tests)."""
    rows = conn.execute(text("SELECT state, count(*) FROM complaint WHERE project_id = :p GROUP BY state"),
                        {"p": project_id}).all()
    return {str(s): int(n) for s, n in rows}
