"""PHOTO_FAR_FROM_PARCEL: a field photo (of the package, or captured through the field API) was taken more than
200 m from the household's parcels."""

from supervision.models.base import in_scope, in_scope_household, sql_rule

MODEL = sql_rule(
    "PHOTO_FAR_FROM_PARCEL", dimension="space", subject_type="photo", severity="prompt", title_zh="现场照片位置异常",
    thresholds={"max_distance_m": 200.0},
    sql=f"""
    WITH photos AS (
        SELECT f.photo_id, h.household_no, f.stage, f.taken_at, f.lon, f.lat, f.geom, NULL::text AS item_code,
               NULL::double precision AS accuracy_m
        FROM field_photo f JOIN household h ON h.id = f.household_id WHERE f.project_id = :p AND {in_scope('f.photo_id')}
        UNION ALL
        SELECT cc.capture_uuid::text, cf.household_no, cc.stage_code, cc.taken_at, cc.lon, cc.lat,
               ST_Transform(cc.position, pr.srid), cc.item_code, cc.accuracy_m
        FROM case_capture cc JOIN case_file cf ON cf.id = cc.case_id JOIN project pr ON pr.id = cf.project_id
        WHERE cf.project_id = :p AND {in_scope_household('cf.household_no')} AND cc.position IS NOT NULL)
    SELECT f.photo_id AS subject_key,
           format('照片 %s（户 %s，%s）拍摄位置距该户最近宗地 %s 米，超过 %s 米', f.photo_id, f.household_no,
                  COALESCE(f.stage, ''), round(near.distance_m::numeric, 1),
                  CAST(:max_distance_m AS numeric)) AS message,
           jsonb_build_object(
               'photo_id', f.photo_id, 'household_no', f.household_no, 'stage', f.stage, 'item_code', f.item_code,
               'taken_at', f.taken_at, 'lon', f.lon, 'lat', f.lat, 'accuracy_m', f.accuracy_m,
               'nearest_parcel_code', near.parcel_code, 'distance_m', round(near.distance_m::numeric, 1),
               'max_distance_m', CAST(:max_distance_m AS double precision)) AS evidence
    FROM photos f
    CROSS JOIN LATERAL (
        SELECT pa.parcel_code, ST_Distance(pa.geom, f.geom) AS distance_m FROM parcel pa
        WHERE pa.project_id = :p AND pa.household_no = f.household_no
        ORDER BY pa.geom <-> f.geom LIMIT 1) near
    WHERE near.distance_m > :max_distance_m""")
