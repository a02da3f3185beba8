"""NON_VILLAGER: the registry village of a claimant differs from the village of a parcel they claim."""

from supervision.models._people import REGISTRY_JSON
from supervision.models.base import in_scope, sql_rule

MODEL = sql_rule(
    "NON_VILLAGER", dimension="qualification", subject_type="person", severity="report",
    title_zh="非本村集体成员领取补偿", registry=True,
    sql=f"""
    SELECT r.id_number AS subject_key,
           format('%s（%s）户籍在 %s，却申领 %s 村宗地 %s 的补偿', r.name, r.id_number, r.village_code,
                  string_agg(DISTINCT pa.village_code, '、'), string_agg(DISTINCT pa.parcel_code, '、')) AS message,
           jsonb_build_object('registry', {REGISTRY_JSON},
                              'claimed_parcels', jsonb_agg(DISTINCT jsonb_build_object(
                                  'parcel_code', pa.parcel_code, 'village_code', pa.village_code)),
                              'claims', jsonb_agg(DISTINCT c.claim_id)) AS evidence
    FROM claim c JOIN parcel pa ON pa.id = c.parcel_id
    JOIN pg_temp.expro_reg r ON r.id_number = c.claimant_id_number
    WHERE c.project_id = :p AND {in_scope('c.claimant_id_number')} AND r.village_code IS NOT NULL AND r.village_code <> pa.village_code
    GROUP BY r.id_number""")
