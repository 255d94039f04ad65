"""Atomic file writes: a crash mid-write never leaves a half-written file in place."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Callable


def _beside(path: Path, make: Callable[[Path], None]) -> Path:
    """Create a fresh ``.NAME.<pid>.<random>.tmp`` beside ``path`` with ``make`` (which must fail if it exists)."""
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            make(tmp)
            return tmp
        except FileExistsError:
            continue


def temp_dir_beside(path: Path) -> Path:
    """A new empty folder beside ``path``, to build ``path`` in and rename into place; like any new folder it gets
    0777 less the umask (``tempfile.mkdtemp`` would make it 0700, and so the finished folder private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _beside(path, lambda tmp: os.mkdir(tmp, 0o777))


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` for a temporary file beside ``path``, then rename it over ``path``. A new file gets
    the permissions of any newly created file (0666 less the umask; ``tempfile.mkstemp`` would make it 0600); a
    rewritten one keeps its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _beside(path, lambda t: os.close(os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
    try:
        if path.is_file():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def increment_path(path: Path) -> Path:
    """``path`` if free, else ``path2``, ``path3``, ... (runs/val/exp, runs/val/exp2, ...); the folder is created."""
    path = Path(path)
    candidate, n = path, 2
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            candidate = path.with_name(f"{path.name}{n}")
            n += 1
