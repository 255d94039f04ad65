"""Checkout wrapper of `fscfnet train` (the code is fscfnet/commands/train.py): python train.py --help."""

import sys

from fscfnet.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
