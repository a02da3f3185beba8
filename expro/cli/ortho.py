"""``expro ortho``: ingest orthophotos, measure footprints on them, compare two flights."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, fail, overwrite_option
from expro.settings import get_settings


def _bad_input(exc: Exception) -> None:
    fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)


@click.group("ortho")
def ortho() -> None:
    """Drone orthophotos (正射影像): ingest to COG, footprints, change between flights."""


@ortho.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "project_code", required=True, help="Project code.")
@click.option("--phase", type=click.Choice(["baseline", "after"]), required=True, help="Which flight this is.")
@click.option("--captured-on", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="Flight date.")
@click.option("--compress", type=click.Choice(["JPEG", "WEBP", "DEFLATE"]), default="JPEG", show_default=True,
              help="Compression of the Cloud Optimized GeoTIFF.")
@click.option("--dsm", "dsm", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The flight's surface model (DSM, one band of heights in metres): kept as a COG beside the "
                   "orthophoto; footprint extraction then fuses height above ground with the image.")
def ingest(file: Path, project_code: str, phase: str, captured_on: dt.datetime, compress: str,
           dsm: Path | None) -> None:
    """Validate FILE (GeoTIFF, RGB/RGBA, uint8/uint16), write its COG and catalogue it (with its surface model)."""
    from imagery.catalogue import get_orthophoto
    from imagery.dsm import ingest_surface_model, surface_model_of
    from imagery.errors import ImageryError
    from imagery.ingest import ingest_orthophoto
    from supervision import audit
    from supervision.errors import ProjectNotFoundError
    from supervision.projects import get_project

    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            project = get_project(conn, project_code)
            oid = ingest_orthophoto(conn, file, project_id=project["id"], phase=phase,
                                    captured_on=captured_on.date(), store_dir=get_settings().home / "orthophotos",
                                    compress=compress)
            row = get_orthophoto(conn, oid)
            if dsm is not None:
                ingest_surface_model(conn, dsm, ortho_id=oid, store_dir=get_settings().home / "orthophotos")
            kept = surface_model_of(conn, oid)
            audit.append(conn, actor=audit.cli_actor(), action="orthophoto.ingest", object_type="orthophoto",
                         object_key=str(oid),
                         details={"project": project_code, "phase": phase, "captured_on": captured_on.date(),
                                  "file": file.name, "surface_model": kept["id"] if kept else None},
                         attachments=[{"name": Path(row["cog_path"]).name, "sha256": row["cog_sha256"]}])
    except (ImageryError, ProjectNotFoundError, ValueError) as exc:
        _bad_input(exc)
    click.echo(f"orthophoto {oid}: {row['width_px']}x{row['height_px']} px at {row['resolution_m']:.3f} m, "
               f"{row['crs']}, valid area {row['footprint'].area / 1e4:.2f} ha, COG {row['cog_path']} "
               f"(sha256 {row['cog_sha256'][:16]}…) in {time.perf_counter() - started:.1f} s")
    if kept is not None:
        click.echo(f"surface model {kept['id']}: {kept['resolution_m']:.3f} m, {kept['crs']}, heights "
                   f"{kept['z_min_m']:.1f}…{kept['z_max_m']:.1f} m, {kept['overlap_fraction']:.0%} of the "
                   f"orthophoto, COG {kept['cog_path']}")


@ortho.command("list")
@click.option("--project", "project_code", required=True, help="Project code.")
def list_cmd(project_code: str) -> None:
    """A project's orthophotos."""
    from imagery.catalogue import list_orthophotos
    from supervision.errors import ProjectNotFoundError
    from supervision.projects import get_project

    try:
        with db.transaction() as conn:
            get_project(conn, project_code)
            rows = list_orthophotos(conn, project_code)
    except ProjectNotFoundError as exc:
        _bad_input(exc)
    for r in rows:
        click.echo(f"{r['id']}\t{r['phase']}\t{r['captured_on']}\t{r['status']}\t{r['resolution_m']:.3f} m\t"
                   f"{r['source_path']}")


from imagery.segment import SegmentParams  # noqa: E402  (light: numpy, scipy, shapely)


@ortho.command("footprints")
@click.argument("ortho_id", type=int)
@click.option("--dsm", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A surface model (DSM or height above ground) over the same area, instead of the one "
                   "kept at ingest (ortho ingest --dsm).")
@click.option("--min-area-m2", type=float, default=SegmentParams().min_area_m2, show_default=True,
              help="Smallest footprint kept.")
@click.option("--method", type=click.Choice(["classical", "model"]), default="classical", show_default=True,
              help="classical: round 1's colour thresholds; model: the learnt roof segmenter (imagery.cnn), "
                   "each footprint with a confidence.")
def footprints(ortho_id: int, dsm: Path | None, min_area_m2: float, method: str) -> None:
    """Measure building footprints on ORTHO_ID (replacing its previous imagery footprints)."""
    from imagery.errors import ImageryError
    from imagery.footprints import measure_orthophoto
    from imagery.segment import SegmentParams

    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            count = measure_orthophoto(conn, ortho_id, dsm_path=dsm, params=SegmentParams(min_area_m2=min_area_m2),
                                       method=method)
    except (ImageryError, ValueError) as exc:
        _bad_input(exc)
    click.echo(f"orthophoto {ortho_id}: {count} footprints measured in {time.perf_counter() - started:.1f} s")


@ortho.command("change")
@click.argument("baseline_id", type=int)
@click.argument("after_id", type=int)
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the change map here (GeoTIFF: 0 unchanged, 1 changed, 255 not seen in both).")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a quicklook here: baseline | after | changes in red (needs --map).")
@overwrite_option
def change(baseline_id: int, after_id: int, map_path: Path | None, png_path: Path | None, overwrite: bool) -> None:
    """Compare two flights; store the changed share of every building and parcel."""
    from imagery.catalogue import get_orthophoto
    from imagery.change import changed_fraction_summary, compare_orthophotos, quicklook
    from imagery.errors import ImageryError

    if png_path and not map_path:
        fail("--png needs --map", EXIT_BAD_INPUT)
    for out in (map_path, png_path):
        if out is not None and out.exists() and not overwrite:
            fail(f"{out} exists; use --overwrite to replace it", EXIT_BAD_INPUT)
    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            summary = compare_orthophotos(conn, baseline_id, after_id, map_path=map_path)
            cogs = [get_orthophoto(conn, i)["cog_path"] for i in (baseline_id, after_id)]
    except (ImageryError, ValueError) as exc:
        _bad_input(exc)
    click.echo(f"orthophotos {baseline_id} -> {after_id}: {summary.changed_share:.1%} of the common area changed "
               f"({time.perf_counter() - started:.1f} s)")
    for kind in ("building", "parcel"):
        s = changed_fraction_summary(summary, kind)
        click.echo(f"  {kind}s: {s['observed']} of {s['subjects']} observed, {s['changed']} changed on more than "
                   f"half their area")
    if png_path and map_path:            # --png without --map was refused above
        quicklook(cogs[0], cogs[1], map_path, png_path)
        click.echo(f"quicklook written to {png_path}")
