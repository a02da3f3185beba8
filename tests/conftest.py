"""Fixtures: a real PostGIS database; every test runs in a transaction rolled back at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

#: Where the shared real data may be: EXPRO_REAL_DATA, next to the clone (../shared), or /work/shared.
REAL_DATA_CANDIDATES = [Path(p) for p in [os.environ.get("EXPRO_REAL_DATA")] if p] + [
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real", Path("/work/shared/data/real")]


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The configured PostGIS database (local cluster or EXPRO_DATABASE_URL), migrated."""
    from expro import db

    url = db.database_url(start=True)
    eng = db.engine_for(url)
    with eng.begin() as conn:
        db.migrate(conn)
    return eng


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test; commands use it too."""
    from expro.db import bind_connection

    with engine.connect() as connection:
        trans = connection.begin()
        try:
            with bind_connection(connection):
                yield connection
        finally:
            trans.rollback()


@pytest.fixture
def real_data() -> Path:
    """The shared folder of real orthophotos, elevation models and footprints."""
    for candidate in REAL_DATA_CANDIDATES:
        if candidate.is_dir():
            return candidate
    pytest.fail("shared real data not found in " + ", ".join(map(str, REAL_DATA_CANDIDATES))
                + " (set EXPRO_REAL_DATA)")


_DISTRICTS: dict[tuple[int, int, bool], Path] = {}


@pytest.fixture(scope="session")
def district_dir(tmp_path_factory):
    """A function returning the package folder of (seed, households, imagery), generated once per session."""
    from expro.synthetic.district import generate_district

    def get(seed: int, households: int = 300, imagery: bool = False) -> Path:
        key = (seed, households, imagery)
        if key not in _DISTRICTS:
            out = tmp_path_factory.mktemp(f"district_s{seed}_{households}_{int(imagery)}")
            generate_district(out, households=households, seed=seed, imagery=imagery, overwrite=True)
            _DISTRICTS[key] = out
        return _DISTRICTS[key]
    return get


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """The CLI with its orthophoto store (EXPRO_HOME) in a temporary folder."""
    from click.testing import CliRunner

    from expro.settings import get_settings

    monkeypatch.setenv("EXPRO_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
