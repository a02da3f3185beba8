"""MOVED_IN_AFTER_FREEZE: a claimant moved into the registry household on or after the freeze."""

from supervision.models._people import REGISTRY_JSON
from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "MOVED_IN_AFTER_FREEZE", dimension="time", subject_type="person", severity="internal",
    title_zh="冻结后迁入人员", registry=True,
    sql=f"""
    SELECT r.id_number AS subject_key,
           format('%s（%s）于 %s 迁入（预公告日 %s 当天或之后），仍登记补偿', r.name, r.id_number, r.moved_in_on,
                  CAST(:freeze AS date)) AS message,
           jsonb_build_object('registry', {REGISTRY_JSON}, 'freeze_date', CAST(:freeze AS date),
                              'days_after_freeze', r.moved_in_on - CAST(:freeze AS date),
                              'claims', jsonb_agg(c.claim_id ORDER BY c.claim_id)) AS evidence
    FROM claim c JOIN pg_temp.expro_reg r ON r.id_number = c.claimant_id_number
    WHERE c.project_id = :p AND {in_scope('c.claimant_id_number')} AND r.moved_in_on >= :freeze
    GROUP BY r.id_number""")
