"""PHOTO_FAR_FROM_PARCEL: a field photo was taken more than 200 m from the household's parcels."""

from supervision.models.base import sql_rule

MODEL = sql_rule(
    "PHOTO_FAR_FROM_PARCEL", dimension="space", subject_type="photo", severity="prompt", title_zh="现场照片位置异常",
    thresholds={"max_distance_m": 200.0},
    sql="""
    SELECT f.photo_id AS subject_key,
           format('照片 %s（户 %s，%s）拍摄位置距该户最近宗地 %s 米，超过 %s 米', f.photo_id, h.household_no,
                  COALESCE(f.stage, ''), round(near.distance_m::numeric, 1),
                  CAST(:max_distance_m AS numeric)) AS message,
           jsonb_build_object('photo_id', f.photo_id, 'household_no', h.household_no, 'stage', f.stage,
                              'taken_at', f.taken_at, 'lon', f.lon, 'lat', f.lat,
                              'nearest_parcel_code', near.parcel_code,
                              'distance_m', round(near.distance_m::numeric, 1),
                              'max_distance_m', CAST(:max_distance_m AS double precision)) AS evidence
    FROM field_photo f JOIN household h ON h.id = f.household_id
    CROSS JOIN LATERAL (
        SELECT pa.parcel_code, ST_Distance(pa.geom, f.geom) AS distance_m FROM parcel pa
        WHERE pa.project_id = :p AND pa.household_no = h.household_no
        ORDER BY pa.geom <-> f.geom LIMIT 1) near
    WHERE f.project_id = :p AND near.distance_m > :max_distance_m""")
