"""Audit trail without lock waits: events are inserted unchained and sealed into ``audit_chain`` after commit;
daily checkpoints; the application role ``expro_app`` may only SELECT and INSERT the audit tables
(``schema_0014_audit_chain.sql``). Round 1's chained rows are copied into ``audit_chain`` unchanged.

Revision ID: 0014
Revises: 0013
"""
from pathlib import Path

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _run(name: str) -> None:
    sql = (Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(sql)


def upgrade() -> None:
    """Create the chain, pending and checkpoint tables, ``audit_seal()`` and the application role."""
    _run("schema_0014_audit_chain.sql")
    op.execute("SELECT expro_app_setup()")


def downgrade() -> None:
    """Refused: the audit chain is kept long-term (round 1's foundation cannot be downgraded either)."""
    raise RuntimeError("0014 cannot be downgraded: the audit chain is kept long-term")
