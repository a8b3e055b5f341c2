"""``python -m geokeras.cli``: the ``geokeras`` command."""
from geokeras.cli import console

console()
