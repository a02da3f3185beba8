"""Alembic environment: migrations run on the connection handed over by ``expro.db.migrate``."""

from alembic import context
from sqlalchemy import create_engine

config = context.config


def run_migrations_online() -> None:
    """Run the migrations on the connection in ``config.attributes`` or on ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
        return
    from expro import db

    url = config.get_main_option("sqlalchemy.url") or db.database_url()
    engine = create_engine(db.normalise_url(url))
    with engine.begin() as conn:
        context.configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; use `expro db up`")
run_migrations_online()
