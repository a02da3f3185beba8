"""Expro's Alembic migrations, installed as the package ``expro.migrations`` (see setup.py)."""
