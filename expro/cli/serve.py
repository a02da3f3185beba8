"""``expro serve``: the API and the web map."""

from __future__ import annotations

import click

from expro import db
from expro.cli.options import die_on
from expro.errors import ExproError
from expro.settings import get_settings


def run_server(host: str, port: int) -> None:
    """Serve the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="info")


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default EXPRO_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default EXPRO_PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API and the web map."""
    settings = get_settings()
    if settings.database_url:
        try:
            db.normalise_url(settings.database_url)  # a URL Expro cannot use is said now, not on every request
        except ExproError as exc:
            die_on(exc)
    host = host or settings.host
    port = port or settings.port
    click.echo(f"Expro on http://{host}:{port}/  (health: http://{host}:{port}/health)")
    run_server(host, port)
