"""Command-line plumbing shared by every entry point."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


def add_by_argument(ap: argparse.ArgumentParser) -> None:
    """``--by ATTR ...``: break the metrics down by columns of the dataset's frames.csv."""
    ap.add_argument("--by", nargs="+", default=[], metavar="ATTR",
                    help="also break the metrics down by these columns of the dataset's frames.csv (a video dataset's "
                         "sequence, distance_bin, ...): a row per value, Pd and FA/img at --conf and each budget")


def add_budget_arguments(ap: argparse.ArgumentParser) -> None:
    """``--fa-per-image`` and ``--fa-per-mpix``, the false-alarm budgets of val.py and ``python -m fscfnet.metrics``
    (:func:`fscfnet.metrics.fa_budgets` turns them into budgets)."""
    ap.add_argument("--fa-per-image", type=float, nargs="+", default=[], metavar="B",
                    help="false-alarm budgets per image: report the lowest threshold within each, and Pd there")
    ap.add_argument("--fa-per-mpix", type=float, nargs="+", default=[], metavar="B",
                    help="the same per 1e6 image pixels")


def add_set_argument(ap: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE ...``, repeatable: ``--set a=1 --set b=2`` and ``--set a=1 b=2`` both give both
    (:func:`fscfnet.cfg.schema.parse_overrides` refuses a key given twice with different values)."""
    ap.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                    help=f"any other setting, repeatable, e.g. {example}")


def _expected_child_exit(signum: int, frame: object) -> None:
    pass


def _raise_interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C. A scheduler or ``timeout`` signals every process of the job, so data-loader workers die
    of the same signal, and PyTorch's SIGCHLD check would raise "DataLoader worker killed" into the interrupt's
    handling (saving state, the resume message). The process is stopping and shuts its workers down as it unwinds,
    so their deaths are expected from here on: the check is replaced for the rest of the process."""
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, _expected_child_exit)
    raise KeyboardInterrupt(f"signal {signum}")


def run_cli(fn: Callable[[], object], interrupted: str = "", sigterm_as_interrupt: bool = False) -> int:
    """Run ``fn``; a :class:`UserError` becomes one ``error: ...`` line on stderr and exit code 2, Ctrl-C exit code
    130 (after printing ``interrupted``, if given). ``sigterm_as_interrupt``: SIGTERM (``kill``, job schedulers)
    is handled like Ctrl-C while ``fn`` runs, so long jobs save their state."""
    previous = None
    if sigterm_as_interrupt and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        fn()
    except UserError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if interrupted:
            print(f"\n{interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


@contextmanager
def signals_deferred(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while the block runs; they arrive when it ends. For building an object that an
    interrupt must not leave half made (tqdm's bar, whose destructor then prints an error)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def check_conf(conf: float, flag: str = "--conf") -> float:
    """A confidence threshold in [0, 1); otherwise a one-line error naming the flag."""
    if not 0 <= conf < 1:
        raise UserError(f"{flag} {conf} must lie in [0, 1)")
    return conf


def check_imgsz(size: int, stride: int, flag: str = "--imgsz") -> int:
    """An input size the model can take: a positive multiple of its largest stride."""
    if size <= 0 or size % stride:
        raise UserError(f"{flag} {size} must be a positive multiple of the model stride {stride}")
    return size

