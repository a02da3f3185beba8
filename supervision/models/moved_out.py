"""MOVED_OUT: a claimant's registry status is moved out, dated before the freeze."""

from supervision.models._people import REGISTRY_JSON
from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "MOVED_OUT", dimension="time", subject_type="person", severity="internal", title_zh="冻结前已迁出人员",
    registry=True,
    sql=f"""
    SELECT r.id_number AS subject_key,
           format('%s（%s）已于 %s 迁出（早于预公告日 %s），仍登记补偿 %s 项', r.name, r.id_number, r.status_date,
                  CAST(:freeze AS date), count(c.*)) AS message,
           jsonb_build_object('registry', {REGISTRY_JSON}, 'freeze_date', CAST(:freeze AS date),
                              'claims', jsonb_agg(c.claim_id ORDER BY c.claim_id)) AS evidence
    FROM claim c JOIN pg_temp.expro_reg r ON r.id_number = c.claimant_id_number
    WHERE c.project_id = :p AND {in_scope('c.claimant_id_number')} AND r.status = 'moved_out' AND r.status_date < :freeze
    GROUP BY r.id_number""")
