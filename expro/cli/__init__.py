"""The ``expro`` command: one entry point, one module per command group."""

from __future__ import annotations

import click

from expro.cli import audit as audit_cmd
from expro.cli import check as check_cmd
from expro.cli import db as db_cmd
from expro.cli import demo as demo_cmd
from expro.cli import imports as import_cmd
from expro.cli import ortho as ortho_cmd
from expro.cli import progress as progress_cmd
from expro.cli import registry as registry_cmd
from expro.cli import report as report_cmd
from expro.cli import serve as serve_cmd
from expro.cli import users as user_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="expro")
def cli() -> None:
    """Expro: supervision of land and house expropriation (征收监督)."""


cli.add_command(db_cmd.db)
cli.add_command(import_cmd.import_package)
cli.add_command(demo_cmd.demo)
cli.add_command(serve_cmd.serve)
cli.add_command(user_cmd.user)
cli.add_command(check_cmd.check)
cli.add_command(check_cmd.alerts)
cli.add_command(check_cmd.rules)
cli.add_command(registry_cmd.registry)
cli.add_command(ortho_cmd.ortho)
cli.add_command(progress_cmd.progress)
cli.add_command(audit_cmd.audit_group)
cli.add_command(report_cmd.report)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="expro")
