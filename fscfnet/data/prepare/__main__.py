"""``python -m fscfnet.data.prepare SRC [--dst ...]``: see :mod:`fscfnet.data.prepare.run`."""

from .run import main

raise SystemExit(main())
