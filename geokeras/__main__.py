"""``python -m geokeras``: the ``geokeras`` command (`geokeras.cli.console`)."""
from geokeras.cli import console

console()
