"""AMOUNT_MISMATCH: a claim's amount differs from quantity × unit price by more than 1 yuan."""

from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "AMOUNT_MISMATCH", dimension="numeric", subject_type="claim", severity="internal", title_zh="金额与数量单价不符",
    thresholds={"max_difference_yuan": 1.0},
    sql=f"""
    SELECT c.claim_id AS subject_key,
           format('补偿项 %s：数量 %s × 单价 %s = %s 元，登记金额 %s 元，相差 %s 元', c.claim_id, c.quantity,
                  c.unit_price_yuan, round(c.quantity * c.unit_price_yuan, 2), c.amount_yuan,
                  round(c.amount_yuan - c.quantity * c.unit_price_yuan, 2)) AS message,
           jsonb_build_object('claim_id', c.claim_id, 'household_no', c.household_no, 'item_kind', c.item_kind,
                              'quantity', c.quantity, 'unit', c.unit, 'unit_price_yuan', c.unit_price_yuan,
                              'computed_yuan', round(c.quantity * c.unit_price_yuan, 2), 'amount_yuan', c.amount_yuan,
                              'difference_yuan', round(c.amount_yuan - c.quantity * c.unit_price_yuan, 2),
                              'max_difference_yuan', CAST(:max_difference_yuan AS numeric)) AS evidence
    FROM claim c
    WHERE c.project_id = :p AND {in_scope('c.claim_id')} AND abs(c.quantity * c.unit_price_yuan - c.amount_yuan) > :max_difference_yuan""")
