"""``expro demo``: a synthetic district end to end; ``expro demo generate``: just the package."""

from __future__ import annotations

import time
from pathlib import Path

import click
from sqlalchemy import text

from expro import db
from expro.cli.db import ensure_database
from expro.cli.options import EXIT_BAD_INPUT, fail
from expro.settings import get_settings

DEMO_PASSWORD = "expro-demo-2025"
DEMO_HOUSEHOLDS = 300
DEMO_SEED = 1


@click.group(invoke_without_command=True)
@click.option("--households", type=int, default=DEMO_HOUSEHOLDS, show_default=True)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option("--no-serve", is_flag=True, help="Prepare everything but do not start the server.")
@click.option("--port", type=int, default=None, help="Port of the server (default 8000).")
@click.pass_context
def demo(ctx: click.Context, households: int, seed: int, no_serve: bool, port: int | None) -> None:
    """Bring the database up, generate and import a synthetic district, run the checks, serve the map."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    started = time.perf_counter()
    found = ensure_database()
    click.echo(f"[1/5] database ready: PostgreSQL {found['postgresql']}, PostGIS {found['postgis']}")
    from expro.synthetic.district import generate_district

    out = settings.home / "demo" / f"seed{seed}-{households}"
    district = generate_district(out, households=households, seed=seed, imagery=True, overwrite=True)
    click.echo(f"[2/5] generated district {district.project_code} in {out} "
               f"({district.row_counts.get('households', households)} households)")
    from supervision.package.service import import_package

    with db.transaction() as conn:
        result, _ = import_package(conn, out, actor="demo")
        logins = create_demo_logins(conn, result.project_id)
    click.echo(f"[3/5] imported {result.project_code}: " + ", ".join(
        f"{k} {v}" for k, v in sorted(result.row_counts.items())))
    click.echo("[4/5] orthophotos: " + ingest_flights(result.project_id, settings.home / "orthophotos"))
    click.echo("[5/5] supervision models: " + run_models(result.project_code))
    click.echo(f"ready in {time.perf_counter() - started:.0f} s")
    host, port = settings.host, port or settings.port
    click.echo(f"\n  地图 / map:      http://{host}:{port}/map/{result.project_code}\n  健康 / health:   http://{host}:{port}/health")
    click.echo(f"  登录 / logins (password {DEMO_PASSWORD}):")
    for username, role, name in logins:
        click.echo(f"    {username:<14} {role:<12} {name}")
    if not no_serve:
        from expro.cli.serve import run_server

        run_server(host, port)


def ingest_flights(project_id: int, store: Path) -> str:
    """Ingest the orthophotos the package import catalogued (COG) and compare the baseline and after flights."""
    from imagery.catalogue import flights
    from imagery.change import compare_orthophotos
    from imagery.ingest import ingest_orthophoto

    ids: dict[str, int] = {}
    with db.transaction() as conn:
        for row in flights(conn, project_id, "catalogued"):      # newest first
            oid = ingest_orthophoto(conn, Path(row["source_path"]), project_id=project_id, phase=row["phase"],
                                    captured_on=row["captured_on"], store_dir=store, from_package=True)
            ids.setdefault(row["phase"], oid)                       # the newest flight of each phase
        if not ids:
            return "none in the package"
        summary = ""
        if {"baseline", "after"} <= ids.keys():
            change = compare_orthophotos(conn, ids["baseline"], ids["after"])
            summary = f"; {change.changed_share:.1%} of the area changed between the flights"
    return ", ".join(f"{phase} #{oid}" for phase, oid in ids.items()) + " ingested as COG" + summary


def run_models(project_code: str) -> str:
    """Run every supervision model that exists on the project; a one-line summary."""
    from supervision import models

    registered = models.registered()
    if not registered:
        return "none registered yet"
    with db.transaction() as conn:
        counts = models.run_all(conn, project_code)
    return ", ".join(f"{code} {n}" for code, n in counts.items())


def create_demo_logins(conn, project_id: int) -> list[tuple[str, str, str]]:
    """Demo accounts with a known password: one per role, the field crew one with assigned households."""
    from supervision.accounts import upsert_user

    logins = []
    for username, role, name in [("admin", "admin", "系统管理员"), ("inspector", "inspector", "纪检监察员"),
                                 ("supervisor", "supervisor", "审核负责人"), ("gis", "gis_officer", "GIS专员")]:
        upsert_user(conn, username=username, name=name, role=role, password=DEMO_PASSWORD)
        logins.append((username, role, name))
    crew = conn.execute(text("""
        SELECT u.username, u.name FROM app_user u JOIN assignment a ON a.user_id = u.id
        WHERE a.project_id = :p AND u.role = 'field_crew' GROUP BY u.username, u.name ORDER BY u.username LIMIT 1"""),
                        {"p": project_id}).one_or_none()
    if crew is not None:
        upsert_user(conn, username=crew.username, name=crew.name, role="field_crew", password=DEMO_PASSWORD)
        logins.append((crew.username, "field_crew", crew.name))
    return logins


@demo.command("generate")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--households", type=int, default=DEMO_HOUSEHOLDS, show_default=True)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option("--no-imagery", is_flag=True, help="Skip the orthophotos (for large N).")
@click.option("--overwrite", is_flag=True, help="Replace the contents of a non-empty output folder.")
def demo_generate(output: Path, households: int, seed: int, no_imagery: bool, overwrite: bool) -> None:
    """Write a synthetic district package (with truth.csv of planted anomalies) to OUTPUT."""
    from expro.synthetic.district import generate_district

    if output.exists() and any(output.iterdir()) and not overwrite:
        fail(f"{output} exists and is not empty; use --overwrite to replace it", EXIT_BAD_INPUT)
    started = time.perf_counter()
    try:
        district = generate_district(output, households=households, seed=seed, imagery=not no_imagery,
                                     overwrite=overwrite)
    except (ValueError, FileExistsError) as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(district.row_counts.items()))
    click.echo(f"wrote {district.project_code} to {output} in {time.perf_counter() - started:.1f} s: {counts}")
