"""Options and helpers shared by the command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from expro.errors import ExproError

#: Exit status for bad input (rasterio's convention).
EXIT_BAD_INPUT = 2

overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output.")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def die_on(exc: ExproError) -> NoReturn:
    """Report an expected error (no traceback) and exit 1."""
    fail(f"错误 / error: {exc}")


def output_dir(path: Path, overwrite: bool) -> Path:
    """Check that ``path`` may be written: it must be absent or empty unless ``overwrite``."""
    if path.exists() and any(path.iterdir()) and not overwrite:
        fail(f"{path} exists and is not empty; use --overwrite to replace it", EXIT_BAD_INPUT)
    return path
