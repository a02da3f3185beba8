"""PAYEE_NOT_MEMBER: a payment's payee is not a registry member of the paid household."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "PAYEE_NOT_MEMBER", dimension="qualification", subject_type="payment", severity="internal",
    title_zh="收款人非本户成员", registry=True,
    sql=f"""
    SELECT py.payment_id AS subject_key,
           format('支付 %s（%s 元）的收款人 %s（%s）不是户 %s 的户籍成员%s', py.payment_id, py.amount_yuan,
                  py.payee_name, py.payee_id_number, py.household_no,
                  CASE WHEN r.household_no IS NOT NULL THEN '（户籍在户 ' || r.household_no || '）' ELSE '' END)
               AS message,
           jsonb_build_object('payment_id', py.payment_id, 'household_no', py.household_no,
                              'payee_id_number', py.payee_id_number, 'payee_name', py.payee_name,
                              'amount_yuan', py.amount_yuan, 'paid_on', py.paid_on,
                              'payee_registry_household_no', r.household_no, 'payee_registry_name', r.name,
                              'household_members', (SELECT jsonb_agg(jsonb_build_object('id_number', m.id_number,
                                  'name', m.name, 'relation_to_head', m.relation_to_head) ORDER BY m.id_number)
                                  FROM pg_temp.expro_reg m WHERE m.household_no = py.household_no)) AS evidence
    FROM payment py LEFT JOIN pg_temp.expro_reg r ON r.id_number = py.payee_id_number
    WHERE py.project_id = :p AND {in_scope('py.payment_id')} AND r.household_no IS DISTINCT FROM py.household_no""")
