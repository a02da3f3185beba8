"""placeholder during development."""
import click

@click.command()
def serve(): pass
