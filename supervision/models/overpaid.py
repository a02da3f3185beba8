"""OVERPAID: a household's payments exceed its claims by more than 1 yuan."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "OVERPAID", dimension="numeric", subject_type="household", severity="report", title_zh="超额支付",
    thresholds={"max_excess_yuan": 1.0},
    sql=f"""
    WITH paid AS (SELECT household_id, sum(amount_yuan) AS paid_yuan, count(*) AS payments,
                         jsonb_agg(payment_id ORDER BY payment_id) AS payment_ids
                  FROM payment WHERE project_id = :p AND {in_scope('household_no')} GROUP BY household_id),
         claimed AS (SELECT household_id, sum(amount_yuan) AS claimed_yuan FROM claim WHERE project_id = :p AND {in_scope('household_no')}
                     GROUP BY household_id)
    SELECT h.household_no AS subject_key,
           format('户 %s 已支付 %s 元，超过核定补偿合计 %s 元 %s 元', h.household_no, paid.paid_yuan,
                  COALESCE(claimed.claimed_yuan, 0), paid.paid_yuan - COALESCE(claimed.claimed_yuan, 0)) AS message,
           jsonb_build_object('household_no', h.household_no, 'paid_yuan', paid.paid_yuan,
                              'claimed_yuan', COALESCE(claimed.claimed_yuan, 0),
                              'excess_yuan', paid.paid_yuan - COALESCE(claimed.claimed_yuan, 0),
                              'payments', paid.payment_ids, 'max_excess_yuan', CAST(:max_excess_yuan AS numeric))
               AS evidence
    FROM household h JOIN paid ON paid.household_id = h.id LEFT JOIN claimed ON claimed.household_id = h.id
    WHERE h.project_id = :p AND {in_scope('h.household_no')} AND paid.paid_yuan > COALESCE(claimed.claimed_yuan, 0) + :max_excess_yuan""")
