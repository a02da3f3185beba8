"""SPLIT_AFTER_FREEZE: the claiming household was split from another on or after the freeze."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "SPLIT_AFTER_FREEZE", dimension="time", subject_type="household", severity="report", title_zh="冻结后违规分户",
    registry=True,
    sql=f"""
    SELECT h.household_no AS subject_key,
           format('户 %s 于 %s 从户 %s 分出（预公告日 %s 当天或之后），仍申领补偿', h.household_no, min(r.split_on),
                  string_agg(DISTINCT r.split_from_household_no, '、'), CAST(:freeze AS date)) AS message,
           jsonb_build_object('household_no', h.household_no, 'split_on', min(r.split_on),
                              'split_from', jsonb_agg(DISTINCT r.split_from_household_no),
                              'freeze_date', CAST(:freeze AS date),
                              'members', jsonb_agg(jsonb_build_object('id_number', r.id_number, 'name', r.name,
                                                   'split_on', r.split_on) ORDER BY r.id_number),
                              'claims_yuan', (SELECT sum(amount_yuan) FROM claim c WHERE c.household_id = h.id))
               AS evidence
    FROM household h JOIN pg_temp.expro_reg r ON r.household_no = h.household_no
    WHERE h.project_id = :p AND {in_scope('h.household_no')} AND r.split_from_household_no IS NOT NULL AND r.split_on >= :freeze
      AND EXISTS (SELECT 1 FROM claim c WHERE c.household_id = h.id)
    GROUP BY h.id, h.household_no""")
