"""``python -m fscfnet SUBCOMMAND ...``: the same as the ``fscfnet`` console command."""

import sys

from .commands import main

sys.exit(main())
