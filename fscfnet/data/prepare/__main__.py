"""``python -m fscfnet.data.prepare SRC [--dst ...]``: see :mod:`fscfnet.data.prepare.cli`."""

from .cli import main

raise SystemExit(main())
