"""HOMESTEAD_AFTER_FREEZE: a claimed parcel's homestead approval is dated on or after the freeze."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "HOMESTEAD_AFTER_FREEZE", dimension="time", subject_type="parcel", severity="report",
    title_zh="冻结后新批宅基地",
    sql=f"""
    SELECT pa.parcel_code AS subject_key,
           format('宗地 %s 的宅基地审批 %s 日期为 %s（预公告日 %s 当天或之后），仍申领补偿', pa.parcel_code,
                  string_agg(DISTINCT ap.approval_no, '、'), min(ap.approved_on), CAST(:freeze AS date)) AS message,
           jsonb_build_object('parcel_code', pa.parcel_code, 'freeze_date', CAST(:freeze AS date),
                              'approvals', jsonb_agg(jsonb_build_object('approval_no', ap.approval_no,
                                  'household_no', ap.household_no, 'approved_on', ap.approved_on)
                                  ORDER BY ap.approval_no),
                              'claims', (SELECT jsonb_agg(c.claim_id ORDER BY c.claim_id) FROM claim c
                                         WHERE c.parcel_id = pa.id)) AS evidence
    FROM parcel pa JOIN homestead_approval ap ON ap.parcel_id = pa.id
    WHERE pa.project_id = :p AND {in_scope('pa.parcel_code')} AND ap.approved_on >= :freeze
      AND EXISTS (SELECT 1 FROM claim c WHERE c.parcel_id = pa.id)
    GROUP BY pa.id, pa.parcel_code""")
