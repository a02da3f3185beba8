"""ID_NOT_FOUND: a claimant's or payee's well-formed ID number is not in the household registry."""

from supervision.models._people import APPEARANCES
from supervision.models.base import sql_rule

MODEL = sql_rule(
    "ID_NOT_FOUND", dimension="qualification", subject_type="person", severity="internal",
    title_zh="户籍中查无此人", registry=True,
    sql=f"""
    WITH a AS ({APPEARANCES}), missing AS (
        SELECT a.id_number, jsonb_agg(DISTINCT a.name) AS names,
               jsonb_agg(DISTINCT a.ref) FILTER (WHERE a.role = 'claimant') AS claims,
               jsonb_agg(DISTINCT a.ref) FILTER (WHERE a.role = 'payee') AS payments,
               jsonb_agg(DISTINCT a.household_no) AS households
        FROM a WHERE NOT EXISTS (SELECT 1 FROM pg_temp.expro_reg r WHERE r.id_number = a.id_number)
        GROUP BY a.id_number HAVING expro_id_problem(a.id_number) IS NULL)
    SELECT m.id_number AS subject_key,
           format('身份证号 %s（%s）在户籍数据中不存在%s', m.id_number, m.names ->> 0,
                  CASE WHEN cand.people IS NOT NULL THEN '，疑似为 ' || (cand.people -> 0 ->> 'id_number')
                       || '（' || (cand.people -> 0 ->> 'name') || '）' ELSE '' END) AS message,
           jsonb_build_object('id_number', m.id_number, 'names', m.names, 'claims', COALESCE(m.claims, '[]'),
                              'payments', COALESCE(m.payments, '[]'), 'households', m.households,
                              'probable_intended', COALESCE(cand.people, '[]')) AS evidence
    FROM missing m
    LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('id_number', r.id_number, 'name', r.name, 'household_no', r.household_no,
                                            'village_code', r.village_code, 'status', r.status)
                         ORDER BY (expro_norm_name(r.name) = expro_norm_name(m.names ->> 0)) DESC, r.id_number) AS people
        FROM registry_person r
        WHERE r.id_number IN (SELECT expro_id_candidates(m.id_number))
          AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(:p))) cand ON true""")
