import click


@click.group()
def main():
    """sortslice: collision-free ECFP fingerprints."""
