"""``python -m fscfnet.experiments ...``: see :mod:`fscfnet.experiments.cli`."""

import sys

from .cli import main

sys.exit(main())
