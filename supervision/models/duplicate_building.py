"""DUPLICATE_BUILDING: one building is claimed by two or more households."""

from supervision.models.base import in_scope, in_scope_parcels, sql_rule

MODEL = sql_rule(
    "DUPLICATE_BUILDING", dimension="numeric", subject_type="building", severity="report", title_zh="同一房屋重复补偿",
    sql=f"""
    SELECT c.parcel_code || '/' || c.building_no AS subject_key,
           format('房屋 %s/%s 被 %s 户重复申领补偿：%s', c.parcel_code, c.building_no, count(DISTINCT c.household_id),
                  string_agg(DISTINCT c.household_no, '、')) AS message,
           jsonb_build_object('parcel_code', c.parcel_code, 'building_no', c.building_no,
                              'households', jsonb_agg(DISTINCT c.household_no),
                              'claims', jsonb_agg(jsonb_build_object('claim_id', c.claim_id,
                                  'household_no', c.household_no, 'quantity', c.quantity,
                                  'amount_yuan', c.amount_yuan) ORDER BY c.claim_id),
                              'claimed_yuan', sum(c.amount_yuan)) AS evidence
    FROM claim c
    WHERE c.project_id = :p AND c.item_kind = 'building' AND c.building_no IS NOT NULL
      AND {in_scope_parcels('c.parcel_code')} AND {in_scope("c.parcel_code || '/' || c.building_no")}
    GROUP BY c.parcel_code, c.building_no
    HAVING count(DISTINCT c.household_id) >= 2""")
