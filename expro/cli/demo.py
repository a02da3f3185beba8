"""placeholder during development."""
import click

@click.group()
def demo(): pass
