"""Sign-in: token revocation (per-user token version, revoked token ids) and the sign-in throttle.

``app_user.token_version`` is written into every token; changing a password bumps it, so every
token issued before is refused. ``revoked_token`` holds the ids (``jti``) of tokens ended by a
logout until they would have expired anyway. ``sign_in_throttle`` counts failed sign-ins per
account name and per client address (in the database so that every server worker shares it).

Revision ID: 0011
Revises: 0009
"""
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column and the two tables."""
    op.execute("ALTER TABLE app_user ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 0")
    op.execute("""
        CREATE TABLE revoked_token (
            jti         text PRIMARY KEY,
            user_id     bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            expires_at  timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX revoked_token_expires_idx ON revoked_token (expires_at)")
    op.execute("CREATE INDEX revoked_token_user_idx ON revoked_token (user_id)")
    op.execute("""
        CREATE TABLE sign_in_throttle (
            scope            text NOT NULL CHECK (scope IN ('account', 'address')),
            key              text NOT NULL,
            failures         integer NOT NULL CHECK (failures >= 0),
            first_failure_at timestamptz NOT NULL,
            last_failure_at  timestamptz NOT NULL,
            locked_until     timestamptz,
            PRIMARY KEY (scope, key)
        )""")


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE IF EXISTS sign_in_throttle")
    op.execute("DROP TABLE IF EXISTS revoked_token")
    op.execute("ALTER TABLE app_user DROP COLUMN IF EXISTS token_version")
