"""DUPLICATE_PERSON: one ID number is the claimant for two or more households."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "DUPLICATE_PERSON", dimension="numeric", subject_type="person", severity="internal", title_zh="一人多户申领",
    sql=f"""
    SELECT c.claimant_id_number AS subject_key,
           format('身份证号 %s（%s）在 %s 户中作为申领人：%s', c.claimant_id_number, min(c.claimant_name),
                  count(DISTINCT c.household_id), string_agg(DISTINCT c.household_no, '、')) AS message,
           jsonb_build_object('id_number', c.claimant_id_number, 'names', jsonb_agg(DISTINCT c.claimant_name),
                              'households', jsonb_agg(DISTINCT c.household_no),
                              'claims', jsonb_agg(c.claim_id ORDER BY c.claim_id),
                              'claimed_yuan', sum(c.amount_yuan)) AS evidence
    FROM claim c WHERE c.project_id = :p AND {in_scope('c.claimant_id_number')}
    GROUP BY c.claimant_id_number
    HAVING count(DISTINCT c.household_id) >= 2""")
