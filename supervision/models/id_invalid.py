"""ID_INVALID: a claimant's or payee's ID number fails GB 11643 (length, birth date, check character)."""

from supervision.models._people import APPEARANCES
from supervision.models.base import sql_rule

MODEL = sql_rule(
    "ID_INVALID", dimension="qualification", subject_type="person", severity="prompt", title_zh="身份证号无效",
    sql=f"""
    WITH a AS ({APPEARANCES}), bad AS (
        SELECT id_number, expro_id_problem(id_number) AS problem, jsonb_agg(DISTINCT name) AS names,
               jsonb_agg(DISTINCT ref) FILTER (WHERE role = 'claimant') AS claims,
               jsonb_agg(DISTINCT ref) FILTER (WHERE role = 'payee') AS payments,
               jsonb_agg(DISTINCT household_no) AS households
        FROM a GROUP BY id_number HAVING expro_id_problem(id_number) IS NOT NULL)
    SELECT b.id_number AS subject_key,
           format('身份证号 %s 不符合 GB 11643（%s）', b.id_number,
                  CASE b.problem WHEN 'length' THEN '位数错误' WHEN 'characters' THEN '含非法字符'
                                 WHEN 'birth_date' THEN '出生日期无效' ELSE '校验码错误' END) AS message,
           jsonb_build_object('id_number', b.id_number, 'problem', b.problem, 'names', b.names,
                              'claims', COALESCE(b.claims, '[]'), 'payments', COALESCE(b.payments, '[]'),
                              'households', b.households,
                              'probable_intended', COALESCE((
                                  SELECT jsonb_agg(jsonb_build_object('id_number', r.id_number, 'name', r.name,
                                                                      'household_no', r.household_no)
                                                         ORDER BY r.id_number, r.household_no)
                                  FROM registry_person r
                                  WHERE r.id_number IN (SELECT expro_id_candidates(b.id_number))
                                    AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(:p))), '[]'))
               AS evidence
    FROM bad b""")
