"""SQL fragments shared by the person rules: every claimant and payee appearance of a project."""

from __future__ import annotations

from supervision.models.base import in_scope

#: One row per appearance of an ID number as claimant (claims) or payee (payments).
APPEARANCES = f"""
    SELECT c.claimant_id_number AS id_number, c.claimant_name AS name, 'claimant' AS role, c.claim_id AS ref,
           c.household_no, c.registered_on AS on_date, c.parcel_id
    FROM claim c WHERE c.project_id = :p AND {in_scope('c.claimant_id_number')}
    UNION ALL
    SELECT py.payee_id_number, py.payee_name, 'payee', py.payment_id, py.household_no, py.paid_on, NULL
    FROM payment py WHERE py.project_id = :p AND {in_scope('py.payee_id_number')}"""

#: The registry row of a person as evidence.
REGISTRY_JSON = """jsonb_build_object('id_number', r.id_number, 'name', r.name, 'gender', r.gender,
    'birth_date', r.birth_date, 'household_no', r.household_no, 'relation_to_head', r.relation_to_head,
    'village_code', r.village_code, 'status', r.status, 'status_date', r.status_date, 'moved_in_on', r.moved_in_on,
    'split_from_household_no', r.split_from_household_no, 'split_on', r.split_on, 'extract_id', r.extract_id)"""
