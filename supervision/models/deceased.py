"""DECEASED: registry status deceased, dated before a claim's registration or a payment to the person."""

from supervision.models._people import APPEARANCES, REGISTRY_JSON
from supervision.models.base import sql_rule

MODEL = sql_rule(
    "DECEASED", dimension="time", subject_type="person", severity="report", title_zh="死亡人员领取补偿",
    registry=True,
    sql=f"""
    WITH a AS ({APPEARANCES})
    SELECT r.id_number AS subject_key,
           format('%s（%s）已于 %s 死亡，其后仍有 %s 条补偿登记/支付记录', r.name, r.id_number, r.status_date,
                  count(*)) AS message,
           jsonb_build_object('registry', {REGISTRY_JSON},
                              'after_death', jsonb_agg(jsonb_build_object('role', a.role, 'ref', a.ref,
                                                                          'date', a.on_date) ORDER BY a.on_date))
               AS evidence
    FROM a JOIN pg_temp.expro_reg r ON r.id_number = a.id_number
    WHERE r.status = 'deceased' AND r.status_date IS NOT NULL AND r.status_date < a.on_date
    GROUP BY r.id_number""")
