"""``expro ortho``: ingest, list, footprints, change; exit 2 on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from expro.cli import cli


def test_ortho_commands(runner, conn, canonical_project, make_tif, tmp_path):
    good = make_tif("flight.tif", width=600, height=400)
    res = runner.invoke(cli, ["ortho", "ingest", str(good), "--project", "T-001", "--phase", "baseline",
                              "--captured-on", "2025-02-20"])
    assert res.exit_code == 0, res.output
    oid = int(res.output.split()[1].rstrip(":"))
    assert list((tmp_path / "home" / "orthophotos").rglob("*.tif"))
    listed = runner.invoke(cli, ["ortho", "list", "--project", "T-001"])
    assert listed.exit_code == 0 and listed.output.startswith(f"{oid}\tbaseline")

    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"GIF89a not a tiff")
    res = runner.invoke(cli, ["ortho", "ingest", str(bad), "--project", "T-001", "--phase", "after",
                              "--captured-on", "2025-09-01"])
    assert res.exit_code == 2 and "not a GeoTIFF" in res.output
    res = runner.invoke(cli, ["ortho", "ingest", str(good), "--project", "NOPE", "--phase", "after",
                              "--captured-on", "2025-09-01"])
    assert res.exit_code == 2

    res = runner.invoke(cli, ["ortho", "footprints", str(oid)])
    assert res.exit_code == 0 and "footprints measured" in res.output
    assert runner.invoke(cli, ["ortho", "footprints", "999999"]).exit_code == 2

    res = runner.invoke(cli, ["ortho", "ingest", str(good), "--project", "T-001", "--phase", "after",
                              "--captured-on", "2025-09-01"])
    assert res.exit_code == 2 and "already catalogued" in res.output
    data = np.full((3, 400, 600), 150, np.uint8)
    after = make_tif("after.tif", width=600, height=400, data=data)
    res = runner.invoke(cli, ["ortho", "ingest", str(after), "--project", "T-001", "--phase", "after",
                              "--captured-on", "2025-09-01"])
    assert res.exit_code == 0, res.output
    aid = int(res.output.split()[1].rstrip(":"))
    out = tmp_path / "change.tif"
    res = runner.invoke(cli, ["ortho", "change", str(oid), str(aid), "--map", str(out), "--png",
                              str(tmp_path / "change.png")])
    assert res.exit_code == 0, res.output
    assert "% of the common area changed" in res.output and "buildings:" in res.output
    assert out.exists() and (tmp_path / "change.png").exists()
    res = runner.invoke(cli, ["ortho", "change", str(oid), str(aid), "--map", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
