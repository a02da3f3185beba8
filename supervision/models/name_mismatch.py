"""NAME_MISMATCH: the registry name for the ID differs from the name in a claim or payment (after normalisation)."""

from sqlalchemy import Connection, text

from supervision.identity import compare_names
from supervision.models._people import APPEARANCES
from supervision.models.base import sql_rule


def add_pinyin_evidence(conn: Connection, project: dict) -> None:
    """Add character and pinyin comparisons to the evidence of this rule's alerts (a step over the hits only)."""
    rows = conn.execute(text("SELECT id, evidence FROM alert WHERE project_id = :p AND rule_code = 'NAME_MISMATCH' "
                             "AND firing"), {"p": project["id"]}).all()
    for row in rows:
        ev = dict(row.evidence)
        ev["comparisons"] = [compare_names(n, ev["registry_name"]) for n in ev["given_names"]]
        conn.execute(text("UPDATE alert SET evidence = CAST(:e AS jsonb) WHERE id = :i"),
                     {"e": __import__("json").dumps(ev, ensure_ascii=False, default=str), "i": row.id})


MODEL = sql_rule(
    "NAME_MISMATCH", dimension="qualification", subject_type="person", severity="prompt", title_zh="姓名与户籍不符",
    registry=True, after=add_pinyin_evidence,
    sql=f"""
    WITH a AS ({APPEARANCES})
    SELECT r.id_number AS subject_key,
           format('身份证号 %s 户籍姓名为“%s”，补偿/支付记录中为“%s”', r.id_number, r.name,
                  string_agg(DISTINCT a.name, '、')) AS message,
           jsonb_build_object('id_number', r.id_number, 'registry_name', r.name,
                              'given_names', jsonb_agg(DISTINCT a.name),
                              'claims', COALESCE(jsonb_agg(DISTINCT a.ref) FILTER (WHERE a.role = 'claimant'), '[]'),
                              'payments', COALESCE(jsonb_agg(DISTINCT a.ref) FILTER (WHERE a.role = 'payee'), '[]'),
                              'normalisation', 'NFKC, whitespace removed, middle dots unified') AS evidence
    FROM a JOIN pg_temp.expro_reg r ON r.id_number = a.id_number
    WHERE expro_norm_name(a.name) <> expro_norm_name(r.name)
    GROUP BY r.id_number, r.name""")
