"""Re-import replaces what the package carries and keeps the rest (issue 9, point 4)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from expro.settings import get_settings
from imagery.catalogue import get_orthophoto
from imagery.change import compare_orthophotos
from imagery.footprints import ExtractedFootprint, store_footprints
from imagery.ingest import ingest_orthophoto
from supervision import models
from supervision.errors import PackageError
from supervision.package.service import import_package
from supervision.registry_import import import_registry
from tests.common import X0, Y0, package_tables, write_package
from tests.imagery.conftest import make_tif  # noqa: F401  (fixture)


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    """EXPRO_HOME (the orthophoto store of ``expro import``) in a temporary folder."""
    monkeypatch.setenv("EXPRO_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def _package(root: Path, flights: dict[str, tuple[Path, str]], *, registry_rows: int | None = None,
             tables: dict | None = None) -> Path:
    """The canonical package with these orthophotos (name -> (tif, phase)); fewer registry rows if asked."""
    tables = tables if tables is not None else package_tables()
    if registry_rows is not None:
        tables["registry"] = tables["registry"].iloc[:registry_rows]
    pkg = write_package(root, tables=tables)
    if flights:
        (pkg / "imagery").mkdir()
        lines = ["file,phase,captured_on"]
        for name, (tif, phase) in flights.items():
            (pkg / "imagery" / name).write_bytes(tif.read_bytes())
            lines.append(f"imagery/{name},{phase},{'2025-02-20' if phase == 'baseline' else '2025-09-01'}")
        (pkg / "orthophotos.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pkg


def _mismatched() -> dict:
    """The canonical tables with one claim whose amount is not quantity × unit price (an AMOUNT_MISMATCH)."""
    tables = package_tables()
    tables["claims"].loc[0, "amount_yuan"] = "296100.00"
    return tables


def _zip(pkg: Path) -> Path:
    archive = pkg.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for f in pkg.rglob("*"):
            if f.is_file():
                zf.write(f, f"T-001/{f.relative_to(pkg)}")
    return archive


def _cli_import(path: Path) -> str:
    res = CliRunner().invoke(cli, ["import", str(path)])
    assert res.exit_code == 0, res.output
    return res.output


def _state(conn, pid: int) -> dict:
    q = lambda sql: conn.execute(text(sql), {"p": pid}).all()  # noqa: E731
    return {
        "own_registry": q("SELECT e.id, e.row_count, count(r.*) FROM registry_extract e JOIN registry_person r "
                          "ON r.extract_id = e.id WHERE e.project_id = :p AND NOT e.from_package GROUP BY e.id"),
        "flights": q("SELECT id, phase, status, cog_path FROM orthophoto WHERE project_id = :p AND status = 'ingested' "
                     "ORDER BY id"),
        "imagery_footprints": q("SELECT footprint_id, orthophoto_id FROM footprint WHERE project_id = :p "
                                "AND source = 'imagery' ORDER BY 1"),
        "change": q("SELECT subject_type, subject_key, baseline_ortho_id, after_ortho_id, changed_fraction "
                    "FROM change_fraction WHERE project_id = :p ORDER BY 1, 2"),
        "alerts": q("SELECT id, rule_code, subject_key, state, assignee_user_id, "
                    "(SELECT count(*) FROM alert_event e WHERE e.alert_id = a.id) FROM alert a WHERE project_id = :p "
                    "ORDER BY id"),
    }


def test_reimport_keeps_registry_flights_footprints_change_and_dispositions(conn, tmp_path, make_tif, home):  # noqa: F811
    base_tif = make_tif("base.tif")
    after_tif = make_tif("after.tif", res=0.12)
    pkg = _package(tmp_path / "pkg1", {"baseline.tif": (base_tif, "baseline")}, tables=_mismatched())
    _cli_import(pkg)
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'T-001'")).scalar_one()
    city = tmp_path / "project_registry.csv"
    package_tables()["registry"].to_csv(city, index=False)
    import_registry(conn, city, project_id=pid)
    store = home / "orthophotos"
    base_id = ingest_orthophoto(conn, pkg / "imagery" / "baseline.tif", project_id=pid, phase="baseline",
                                captured_on=dt.date(2025, 2, 20), store_dir=store, from_package=True)
    after_id = ingest_orthophoto(conn, after_tif, project_id=pid, phase="after", captured_on=dt.date(2025, 9, 1),
                                 store_dir=store)
    store_footprints(conn, get_orthophoto(conn, base_id), [ExtractedFootprint(
        geometry=shapely.box(X0 + 5, Y0 + 15, X0 + 15, Y0 + 25), rectangularity=1.0, height_m=None)])
    compare_orthophotos(conn, base_id, after_id)
    models.run_all(conn, "T-001")
    # a disposition as the closing loop records it (the loop's own rules are tested with the loop)
    alert_id = conn.execute(text("SELECT min(id) FROM alert WHERE project_id = :p AND rule_code = 'AMOUNT_MISMATCH'"),
                            {"p": pid}).scalar_one()
    assert alert_id is not None
    inspector = conn.execute(text("SELECT id FROM app_user WHERE username = 'S003'")).scalar_one()
    conn.execute(text("UPDATE alert SET state = 'assigned', assignee_user_id = :u WHERE id = :a"),
                 {"u": inspector, "a": alert_id})
    conn.execute(text("INSERT INTO alert_event (alert_id, from_state, to_state, user_id, opinion) "
                      "VALUES (:a, 'new', 'assigned', :u, '核查')"), {"u": inspector, "a": alert_id})
    before = _state(conn, pid)
    assert before["own_registry"] and len(before["flights"]) == 2 and before["imagery_footprints"] and before["change"]
    assert any(a.state == "assigned" for a in before["alerts"])

    # a package without orthophotos, with a smaller registry: its own registry is replaced, the rest is kept
    out = _cli_import(_package(tmp_path / "pkg2", {}, registry_rows=2, tables=_mismatched()))
    assert "replaced project T-001" in out
    after = _state(conn, pid)
    assert after == before
    for flight in after["flights"]:
        assert Path(flight.cog_path).is_file()
    package_registry = conn.execute(text("SELECT sum(row_count) FROM registry_extract WHERE project_id = :p "
                                         "AND from_package"), {"p": pid}).scalar_one()
    assert package_registry == 2
    # the same again after a check: dispositions kept, as for expro check
    models.run_all(conn, "T-001")
    assert [a.state for a in _state(conn, pid)["alerts"] if a.id == alert_id] == ["assigned"]


def test_reimported_zip_flights_go_with_their_files(conn, tmp_path, make_tif, home):  # noqa: F811
    tif_c = make_tif("c.tif")
    tif_d = make_tif("d.tif", res=0.11)
    store = home / "orthophotos"
    _cli_import(_zip(_package(tmp_path / "pkg_c", {"c.tif": (tif_c, "baseline")})))
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'T-001'")).scalar_one()
    (c_path,) = conn.execute(text("SELECT source_path FROM orthophoto WHERE project_id = :p"), {"p": pid}).scalars()
    assert Path(c_path).is_file() and Path(c_path).parent == store
    # re-importing the same zip keeps the same row
    c_id = conn.execute(text("SELECT id FROM orthophoto WHERE project_id = :p"), {"p": pid}).scalar_one()
    _cli_import(_zip(_package(tmp_path / "pkg_c2", {"c.tif": (tif_c, "baseline")})))
    assert conn.execute(text("SELECT id FROM orthophoto WHERE project_id = :p"), {"p": pid}).scalar_one() == c_id
    # a bad re-import listing another flight changes nothing and leaves no copy behind
    tables = package_tables()
    tables["claims"].loc[0, "amount_yuan"] = "abc"
    bad = _zip(_package(tmp_path / "pkg_bad", {"d.tif": (tif_d, "baseline")}, tables=tables))
    assert CliRunner().invoke(cli, ["import", str(bad)]).exit_code == 2
    assert Path(c_path).is_file() and sorted(p.name for p in store.iterdir()) == [Path(c_path).name]
    # a package listing D instead of C: C's row and its stored copy go together, D's come in
    _cli_import(_zip(_package(tmp_path / "pkg_d", {"d.tif": (tif_d, "baseline")})))
    rows = conn.execute(text("SELECT source_path FROM orthophoto WHERE project_id = :p"), {"p": pid}).scalars().all()
    assert len(rows) == 1 and rows[0] != c_path and Path(rows[0]).is_file()
    assert not Path(c_path).exists()
    # an ingested flight is never dropped, and its file cannot come back as the other phase
    d_id = ingest_orthophoto(conn, Path(rows[0]), project_id=pid, phase="baseline", captured_on=dt.date(2025, 2, 20),
                             store_dir=store, from_package=True)
    with pytest.raises(PackageError) as info:
        import_package(conn, _zip(_package(tmp_path / "pkg_phase", {"d.tif": (tif_d, "after")})), store_dir=store)
    assert [(i.file, i.row, i.column) for i in info.value.issues] == [("orthophotos.csv", 2, "phase")]
    _cli_import(_zip(_package(tmp_path / "pkg_none", {"c.tif": (tif_c, "baseline")})))
    cog = get_orthophoto(conn, d_id)["cog_path"]
    assert Path(cog).is_file() and Path(rows[0]).is_file()
