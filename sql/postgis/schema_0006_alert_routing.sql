-- Which households an alert concerns (to route prompts to the field crew assigned to them).
CREATE OR REPLACE VIEW alert_household AS
SELECT a.id AS alert_id, h.id AS household_id
FROM alert a
JOIN LATERAL (
    SELECT pa.household_no FROM parcel pa
    WHERE a.subject_type = 'building' AND pa.project_id = a.project_id
      AND pa.parcel_code = split_part(a.subject_key, '/', 1)
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'building' AND c.project_id = a.project_id
      AND c.parcel_code = split_part(a.subject_key, '/', 1) AND c.building_no = split_part(a.subject_key, '/', 2)
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'claim' AND c.project_id = a.project_id AND c.claim_id = a.subject_key
    UNION SELECT c.household_no FROM claim c
    WHERE a.subject_type = 'person' AND c.project_id = a.project_id AND c.claimant_id_number = a.subject_key
    UNION SELECT p.household_no FROM payment p
    WHERE a.subject_type = 'person' AND p.project_id = a.project_id AND p.payee_id_number = a.subject_key
    UNION SELECT a.subject_key WHERE a.subject_type = 'household'
    UNION SELECT p.household_no FROM payment p
    WHERE a.subject_type = 'payment' AND p.project_id = a.project_id AND p.payment_id = a.subject_key
    UNION SELECT pa.household_no FROM parcel pa
    WHERE a.subject_type = 'parcel' AND pa.project_id = a.project_id AND pa.parcel_code = a.subject_key
    UNION SELECT hh.household_no FROM field_photo f JOIN household hh ON hh.id = f.household_id
    WHERE a.subject_type = 'photo' AND f.project_id = a.project_id AND f.photo_id = a.subject_key
) k ON k.household_no IS NOT NULL
JOIN household h ON h.project_id = a.project_id AND h.household_no = k.household_no;
