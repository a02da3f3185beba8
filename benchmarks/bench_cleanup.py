"""Delete benchmark projects quickly on a shared database.

``DELETE FROM project WHERE code LIKE 'BENCH-%'`` cascades correctly but, on a project of a million
buildings, practically never ends: several foreign-key columns have no index (``building.parcel_id``,
``claim.parcel_id``, ``claim.building_id``, ``field_photo.household_id``, ``alert_event.alert_id``), so
the cascade runs one sequential scan of the referencing table per deleted parent row (for instance
one scan of ``building`` per deleted parcel). Deleting the rows child-first does not help, because a
sequential scan still visits the dead tuples.

So, when the session may (a superuser, as on the local cluster), the rows are deleted table by table
by ``project_id`` with the foreign-key triggers off for the transaction (``SET LOCAL
session_replication_role = replica``), every foreign key of the schema is then checked for orphans
with the triggers back on, and the transaction is rolled back if there is any. Otherwise the plain
cascading DELETE is used.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

#: Tables holding a project_id, children before parents.
PROJECT_TABLES = ("alert", "claim", "payment", "homestead_approval", "assignment", "field_photo", "household",
                  "building", "footprint", "parcel", "admin_unit", "project_scope", "project_staff",
                  "registry_extract", "change_fraction", "orthophoto")


def _has_table(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"public.{name}"}).scalar_one()


def _orphans(conn: Connection) -> list[str]:
    """Foreign keys (single column) of the public schema with referencing rows whose parent is missing."""
    fks = conn.execute(text("""
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
          AND c.connamespace = 'public'::regnamespace""")).all()
    bad = []
    for child, col, parent, key in fks:
        n = conn.execute(text(
            f'SELECT count(*) FROM {child} c WHERE c."{col}" IS NOT NULL '
            f'AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p."{key}" = c."{col}")')).scalar_one()
        if n:
            bad.append(f"{child}.{col} -> {parent}.{key}: {n}")
    return bad


def delete_projects(conn: Connection, like: str) -> int:
    """Delete the projects whose code matches ``like`` (must start with 'BENCH-') and all their rows."""
    if not like.startswith("BENCH-"):
        raise ValueError("only benchmark projects (codes starting with BENCH-) are deleted here")
    ids = conn.execute(text("SELECT id FROM project WHERE code LIKE :c"), {"c": like}).scalars().all()
    if not ids:
        return 0
    superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one()
    if not superuser:
        conn.execute(text("DELETE FROM project WHERE id = ANY(:i)"), {"i": ids})
        return len(ids)
    p = {"i": list(ids)}
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text("DELETE FROM alert_event WHERE alert_id IN (SELECT id FROM alert WHERE project_id = ANY(:i))"), p)
    conn.execute(text("DELETE FROM household_member WHERE household_id IN "
                      "(SELECT id FROM household WHERE project_id = ANY(:i))"), p)
    conn.execute(text("DELETE FROM registry_person WHERE extract_id IN "
                      "(SELECT id FROM registry_extract WHERE project_id = ANY(:i))"), p)
    for table in PROJECT_TABLES:
        if _has_table(conn, table):
            conn.execute(text(f"DELETE FROM {table} WHERE project_id = ANY(:i)"), p)
    conn.execute(text("DELETE FROM project WHERE id = ANY(:i)"), p)
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    bad = _orphans(conn)
    if bad:
        raise RuntimeError("deleting the benchmark projects would leave orphans (rolled back): " + "; ".join(bad))
    return len(ids)
