"""Checkout wrapper of `fscfnet detect` (the code is fscfnet/commands/detect.py): python detect.py --help."""

import sys

from fscfnet.commands.detect import main

if __name__ == "__main__":
    sys.exit(main())
