"""Command-line plumbing shared by every entry point."""

from __future__ import annotations

import sys
from typing import Callable

from ..errors import UserError

EXIT_USER_ERROR = 2


def run_cli(fn: Callable[[], object]) -> int:
    """Run ``fn``; a :class:`UserError` becomes one ``error: ...`` line on stderr and exit code 2."""
    try:
        fn()
    except UserError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
