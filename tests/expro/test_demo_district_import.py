"""`expro demo generate` then `expro import`: the database holds exactly what the files hold."""

from __future__ import annotations

import pandas as pd
import pyogrio
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from tests.supervision.package.test_import import COUNT_SQL, db_counts

RULE_CODES = {"AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED", "OUTSIDE_SCOPE", "AMOUNT_MISMATCH", "OVERPAID",
              "ID_INVALID", "ID_NOT_FOUND", "NAME_MISMATCH", "DECEASED", "MOVED_OUT", "NON_VILLAGER",
              "MOVED_IN_AFTER_FREEZE", "SPLIT_AFTER_FREEZE", "HOMESTEAD_AFTER_FREEZE", "DUPLICATE_BUILDING",
              "DUPLICATE_PERSON", "PAYEE_NOT_MEMBER", "STAFF_CONFLICT", "PHOTO_FAR_FROM_PARCEL"}


def file_rows(pkg) -> dict[str, int]:
    """Rows or features of every package file, counted independently of the importer."""
    counts = {}
    for base in COUNT_SQL:
        if (pkg / f"{base}.csv").exists():
            counts[base] = len(pd.read_csv(pkg / f"{base}.csv", dtype=str))
        elif (pkg / f"{base}.gpkg").exists():
            counts[base] = pyogrio.read_info(pkg / f"{base}.gpkg")["features"]
    return counts


def test_generate_then_import_row_counts_match(conn, tmp_path):
    out = tmp_path / "district"
    res = CliRunner().invoke(cli, ["demo", "generate", "-o", str(out), "--households", "300", "--seed", "1",
                                   "--no-imagery"])
    assert res.exit_code == 0, res.output
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    assert set(truth["rule_code"]) == RULE_CODES
    res = CliRunner().invoke(cli, ["import", str(out)])
    assert res.exit_code == 0, res.output
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'HN-S1'")).scalar_one()
    expected = file_rows(out)
    assert expected["households"] == 300
    assert db_counts(conn, pid) == {k: expected.get(k, 0) for k in COUNT_SQL}
    # refusing to overwrite a non-empty folder
    res = CliRunner().invoke(cli, ["demo", "generate", "-o", str(out), "--households", "10", "--no-imagery"])
    assert res.exit_code == 2 and "--overwrite" in res.output
