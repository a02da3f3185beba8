"""A wheel built from the clone, installed in a fresh virtualenv elsewhere: migrations, import, map and Leaflet."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from tests.common import write_package
from tests.expro.running import clean_env, libpq_url, run, served

pytestmark = pytest.mark.slow

CLONE = Path(__file__).resolve().parents[2]
#: What a wheel is never built from: local state, caches, the tests and benchmarks.
NOT_SOURCE = {".git", ".venv", ".expro", "build", "dist", "tests", "benchmarks", "out", "__pycache__",
              ".mypy_cache", ".pytest_cache"}


def _copy_source(dest: Path) -> Path:
    """The clone's source tree (as it is, uncommitted changes included) copied to ``dest``."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in NOT_SOURCE or n.endswith(".egg-info")}
    shutil.copytree(CLONE, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A new virtualenv outside the clone with Expro installed from a freshly built wheel (``--no-deps``).

    The dependencies are those of the test run's environment, reached through a ``.pth`` line, so that
    nothing is downloaded; Expro's code and data come from the wheel alone.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = _copy_source(work / "src")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, cwd=work)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("expro-*.whl"))
    venv = work / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_expro_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--quiet", str(wheel)], capture_output=True, text=True, cwd=work)
    assert installed.returncode == 0, installed.stderr
    shutil.rmtree(source)
    return venv


def test_wheel_ships_code_migrations_and_static_files(wheel_venv, tmp_path):
    where = run([str(wheel_venv / "bin" / "python"), "-c",
                 "import expro, expro.db, api.app; print(expro.__file__); print(expro.db.migrations_dir()); "
                 "print(api.app.WEB_STATIC); print(len(expro.db.expected_heads()))"], clean_env(), tmp_path)
    assert where.returncode == 0, where.stderr
    code, migrations, static, heads = where.stdout.split()
    for path in (code, migrations, static):
        assert Path(path).is_relative_to(wheel_venv), path
        assert not Path(path).is_relative_to(CLONE), path
    assert (Path(migrations) / "versions").is_dir() and int(heads) >= 1
    assert (Path(static) / "leaflet" / "leaflet.js").is_file()


def test_wheel_brings_a_database_up_imports_and_serves_the_map(wheel_venv, fresh_database, tmp_path):
    expro = str(wheel_venv / "bin" / "expro")
    env = clean_env(EXPRO_DATABASE_URL=libpq_url(fresh_database), PGPASSWORD=fresh_database.password,
                    EXPRO_HOME=str(tmp_path / "home"))

    up = run([expro, "db", "up"], env, tmp_path)
    assert up.returncode == 0, up.stderr
    assert "PostGIS 3." in up.stdout
    imported = run([expro, "import", str(write_package(tmp_path / "package"))], env, tmp_path)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    added = run([expro, "user", "add", "W001", "--name", "韩梅", "--role", "inspector",
                 "--password", "wheel-test-password"], env, tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr

    with served(expro, env, tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/health").json()["status"] == "ok"
        signed_in = client.post("/login", data={"username": "W001", "password": "wheel-test-password",
                                                "next": "/map"}, headers={"Origin": base})
        assert signed_in.status_code in (200, 303), signed_in.text
        page = client.get("/map/T-001")
        assert page.status_code == 200, page.text
        assert "/static/leaflet/leaflet.js" in page.text
        for script in ("/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css",
                       "/static/jquery/jquery.min.js", "/static/leaflet-side-by-side/leaflet-side-by-side.js"):
            got = client.get(script)
            assert got.status_code == 200 and len(got.content) > 100, script
