"""The registry rows one check needs, materialised once per check (indexed lookups, never a full scan)."""

from __future__ import annotations

from sqlalchemy import Connection, text

TABLE = "expro_reg"


def ensure(conn: Connection, project: dict) -> None:
    """Create ``pg_temp.expro_reg``: the latest registry row of every claimant, payee and staff member of
    the project, and of every member of its households (or of households split from them)."""
    from supervision.alerts import case_scope

    scope = case_scope(conn)
    household = scope.household_no if scope is not None else None
    key = f"{project['id']}/{household or ''}"
    exists = conn.execute(text(f"SELECT to_regclass('pg_temp.{TABLE}') IS NOT NULL")).scalar_one()
    if exists:
        cached = conn.execute(text(f"SELECT scope_key FROM pg_temp.{TABLE}_meta")).scalar()
        if cached == key:
            return
        drop(conn)
    # on a check of one case (``supervision.case_check``): the rows of that household's people only
    one = "AND household_no = CAST(:hh AS text)" if household is not None else ""
    # a semi-join the planner turns into index lookups (inside an OR with "IS NULL" it filters every row)
    staff = ("AND a.household_id IN (SELECT id FROM household WHERE project_id = :p "
             "AND household_no = CAST(:hh AS text))") if household is not None else ""
    conn.execute(text(f"""
        CREATE TEMP TABLE {TABLE} AS
        WITH ex AS (SELECT extract_id FROM expro_registry_extracts(:p)),
        ids AS (
            SELECT claimant_id_number AS id FROM claim WHERE project_id = :p {one}
            UNION SELECT payee_id_number FROM payment WHERE project_id = :p {one}
            UNION SELECT u.id_number FROM assignment a JOIN app_user u ON u.id = a.user_id
                  WHERE a.project_id = :p AND u.id_number IS NOT NULL {staff}),
        hh AS (SELECT household_no FROM household WHERE project_id = :p {one}),
        hit AS (
            SELECT r.* FROM registry_person r JOIN ids ON r.id_number = ids.id
            WHERE r.extract_id IN (SELECT extract_id FROM ex)
            UNION ALL
            SELECT r.* FROM registry_person r JOIN hh ON r.household_no = hh.household_no
            WHERE r.extract_id IN (SELECT extract_id FROM ex)
            UNION ALL
            SELECT r.* FROM registry_person r JOIN hh ON r.split_from_household_no = hh.household_no
            WHERE r.extract_id IN (SELECT extract_id FROM ex))
        SELECT DISTINCT ON (id_number) * FROM hit ORDER BY id_number, extract_id DESC"""),
        {"p": project["id"], "hh": household})
    conn.execute(text(f"ALTER TABLE pg_temp.{TABLE} ADD PRIMARY KEY (id_number)"))
    conn.execute(text(f"CREATE INDEX ON pg_temp.{TABLE} (household_no)"))
    conn.execute(text(f"CREATE TEMP TABLE {TABLE}_meta AS SELECT CAST(:k AS text) AS scope_key"), {"k": key})
    conn.execute(text(f"ANALYZE pg_temp.{TABLE}"))


def drop(conn: Connection) -> None:
    """Forget the materialised rows."""
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}"))
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}_meta"))
