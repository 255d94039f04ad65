"""Checkout wrapper of `fscfnet val` (the code is fscfnet/commands/val.py): python val.py --help."""

import sys

from fscfnet.commands.val import main

if __name__ == "__main__":
    sys.exit(main())
