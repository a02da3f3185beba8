"""STAFF_CONFLICT: staff assigned to a household belong to it, or to the household it was split from or into."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "STAFF_CONFLICT", dimension="qualification", subject_type="household", severity="report",
    title_zh="经办人员与被征收户存在亲属关系", registry=True,
    sql=f"""
    WITH staff AS (
        SELECT DISTINCT a.household_id, a.stage, u.username, u.name, u.id_number, r.household_no AS staff_household_no,
               r.split_from_household_no AS staff_split_from
        FROM assignment a JOIN app_user u ON u.id = a.user_id
        JOIN pg_temp.expro_reg r ON r.id_number = u.id_number
        WHERE a.project_id = :p AND (CAST(:scope_keys AS text[]) IS NULL OR a.household_id IN (
            SELECT hh.id FROM household hh WHERE hh.project_id = :p AND {in_scope('hh.household_no')}))),
    links AS (
        SELECT h.id AS household_id, h.household_no, s.username, s.name, s.stage, s.staff_household_no,
               CASE WHEN s.staff_household_no = h.household_no THEN 'same_household'
                    WHEN EXISTS (SELECT 1 FROM pg_temp.expro_reg m WHERE m.household_no = h.household_no
                                   AND m.split_from_household_no = s.staff_household_no) THEN 'split_from_staff_household'
                    WHEN s.staff_split_from = h.household_no
                      OR EXISTS (SELECT 1 FROM pg_temp.expro_reg m WHERE m.household_no = s.staff_household_no
                                   AND m.split_from_household_no = h.household_no) THEN 'staff_household_split_from_it'
               END AS relation
        FROM household h JOIN staff s ON s.household_id = h.id
        WHERE h.project_id = :p AND {in_scope('h.household_no')})
    SELECT household_no AS subject_key,
           format('经办人员 %s 与被征收户 %s 存在户籍关联（%s），环节：%s', string_agg(DISTINCT name || '(' || username || ')', '、'),
                  household_no, string_agg(DISTINCT CASE relation WHEN 'same_household' THEN '同户'
                      WHEN 'split_from_staff_household' THEN '该户由经办人员户分出' ELSE '经办人员户由该户分出' END, '、'),
                  string_agg(DISTINCT stage, '、')) AS message,
           jsonb_build_object('household_no', household_no,
                              'staff', jsonb_agg(jsonb_build_object('username', username, 'name', name, 'stage', stage,
                                  'staff_household_no', staff_household_no, 'relation', relation)
                                  ORDER BY username, stage)) AS evidence
    FROM links WHERE relation IS NOT NULL
    GROUP BY household_id, household_no""")
