"""``python -m geokeras``: the ``geokeras`` command (`geokeras.cli.main`)."""
import sys

from geokeras.cli import main

sys.exit(main())
