"""placeholder during development."""
import click

@click.group()
def user(): pass
