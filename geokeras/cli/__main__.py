"""``python -m geokeras.cli``: the ``geokeras`` command."""
import sys

from geokeras.cli import main

sys.exit(main())
