"""The flights of a package without footprint files: ingested and measured at import (DATA_FORMATS §1).

When a package gives no ``footprints_baseline.*`` (or ``footprints_after.*``) but an orthophoto of that
phase, the system extracts the footprints from the imagery: the catalogued flights are ingested as COG,
the newest flight of each such phase is measured, and the newest baseline and after flights are
compared (evidence for the area rules). Where no measured flight covers a building, the area rules
count it as not measurable instead of reading "nothing measured" as "nothing there".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from supervision.errors import Issue, PackageError
from supervision.package.validate import ValidatedPackage

PHASES = ("baseline", "after")


@dataclass
class FlightsResult:
    """What the imagery step did: flights ingested, footprints measured per flight, flights compared."""

    ingested: list[int] = field(default_factory=list)
    measured: dict[int, int] = field(default_factory=dict)          # orthophoto id -> footprints found
    compared: tuple[int, int] | None = None
    phases: list[str] = field(default_factory=list)                  # phases measured from imagery

    def summary(self) -> str:
        """One line for the console."""
        if not self.phases:
            return ""
        parts = [f"flights ingested {len(self.ingested)}"]
        parts += [f"orthophoto {oid}: {n} footprints measured" for oid, n in self.measured.items()]
        if self.compared:
            parts.append(f"flights {self.compared[0]} -> {self.compared[1]} compared")
        return (f"no footprint files for {', '.join(self.phases)}: extracted from the imagery / 包内无实测轮廓, "
                f"已从影像提取: " + "; ".join(parts))


def phases_to_measure(conn: Connection, project_id: int) -> list[str]:
    """Phases with flights in the catalogue and no survey footprints."""
    rows = conn.execute(text("""
        SELECT DISTINCT o.phase FROM orthophoto o
        WHERE o.project_id = :p AND NOT EXISTS (
            SELECT 1 FROM footprint f WHERE f.project_id = :p AND f.phase = o.phase AND f.source = 'survey')"""),
        {"p": project_id}).scalars().all()
    return [p for p in PHASES if p in rows]


def _package_issue(pkg: ValidatedPackage | None, sha256: str, source_path: str, message: str) -> PackageError:
    """An imagery error as an error of the package row that listed the flight (its own file name, no paths)."""
    shown = message
    if pkg is not None:
        for pos, o in enumerate(pkg.orthophotos):
            if o.sha256 == sha256:
                shown = message.replace(Path(source_path).name, o.file)
                return PackageError([pkg.issue("orthophotos", pos, "file", shown,
                                               f"影像无法入库或提取轮廓: {shown}")])
    return PackageError([Issue("orthophotos.*", None, None, shown, f"影像无法入库或提取轮廓: {shown}")])


def measure_flights(conn: Connection, project_id: int, store_dir: Path, *,
                    pkg: ValidatedPackage | None = None) -> FlightsResult:
    """Ingest and measure the flights of the phases that have no survey footprints (see the module).

    Runs in the caller's transaction; an imagery problem raises ``PackageError`` naming the package row
    (the COG files written by this call are removed again, so nothing is left of a refused import).
    """
    from imagery.catalogue import flights
    from imagery.change import compare_orthophotos
    from imagery.errors import ImageryError
    from imagery.footprints import measure_orthophoto
    from imagery.ingest import ingest_orthophoto

    result = FlightsResult(phases=phases_to_measure(conn, project_id))
    if not result.phases:
        return result
    written: list[Path] = []
    current: dict = {}
    try:
        for row in flights(conn, project_id, "catalogued"):
            current = {"sha": None, "path": row["source_path"]}
            current["sha"] = conn.execute(text("SELECT sha256 FROM orthophoto WHERE id = :i"),
                                          {"i": row["id"]}).scalar_one()
            oid = ingest_orthophoto(conn, Path(row["source_path"]), project_id=project_id, phase=row["phase"],
                                    captured_on=row["captured_on"], store_dir=store_dir, from_package=True)
            result.ingested.append(oid)
            if oid == row["id"]:                                    # a COG written now (not an earlier one)
                cog = conn.execute(text("SELECT cog_path FROM orthophoto WHERE id = :i"), {"i": oid}).scalar_one()
                written.append(Path(cog))
        newest: dict[str, dict] = {}
        for flight in flights(conn, project_id, "ingested"):       # newest first
            newest.setdefault(flight["phase"], flight)
        for phase in result.phases:
            if phase not in newest:
                continue
            row = newest[phase]
            current = {"sha": conn.execute(text("SELECT sha256 FROM orthophoto WHERE id = :i"),
                                           {"i": row["id"]}).scalar_one(), "path": row["cog_path"]}
            measured = conn.execute(text("""
                SELECT o.ingest ? 'footprints_measured_at'
                       OR EXISTS (SELECT 1 FROM footprint f WHERE f.orthophoto_id = o.id AND f.source = 'imagery')
                FROM orthophoto o WHERE o.id = :i"""), {"i": row["id"]}).scalar_one()
            if measured:
                continue
            result.measured[row["id"]] = measure_orthophoto(conn, row["id"])
            conn.execute(text("UPDATE orthophoto SET ingest = ingest || jsonb_build_object('footprints_measured_at', "
                              "now()) WHERE id = :i"), {"i": row["id"]})
        if {"baseline", "after"} <= newest.keys():
            pair = (newest["baseline"]["id"], newest["after"]["id"])
            done = conn.execute(text("SELECT EXISTS (SELECT 1 FROM change_fraction WHERE baseline_ortho_id = :b "
                                     "AND after_ortho_id = :a)"), {"b": pair[0], "a": pair[1]}).scalar_one()
            if not done:
                current = {"sha": None, "path": ""}
                compare_orthophotos(conn, *pair)
                result.compared = pair
    except ImageryError as exc:
        for cog in written:
            cog.unlink(missing_ok=True)
        raise _package_issue(pkg, current.get("sha") or "", current.get("path") or "", str(exc)) from exc
    except BaseException:
        for cog in written:
            cog.unlink(missing_ok=True)
        raise
    return result
