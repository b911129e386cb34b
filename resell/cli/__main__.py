"""`python -m resell.cli`: the same command as the `resell` script."""

from resell.cli import app

app()
