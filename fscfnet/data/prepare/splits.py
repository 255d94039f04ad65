"""Upstream split files: BasicIRSTD's ``img_idx/``, IRSTD-1K's ``trainval.txt``/``test.txt``, DNANet's
``50_50/``, VOC's ``ImageSets/Main/``; the first found wins, and others that split the images otherwise are
reported."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from ..labels import read_index


def first_dir(src: Path, *names: str) -> Path | None:
    return next((src / n for n in names if (src / n).is_dir()), None)


def _allsplit_files(src: Path) -> list[tuple[str, dict[str, Path]]]:
    """Every pair of train/test index files in a source with the convention it follows, in order of preference."""
    found = []
    idx = src / "img_idx"
    if idx.is_dir():
        train, test = sorted(idx.glob("train*.txt")), sorted(idx.glob("test*.txt"))
        if len(train) == 1 and len(test) == 1:
            found.append(("BasicIRSTD", {"train": train[0], "test": test[0]}))
    for folder, convention in ((src, "IRSTD-1K"), (src / "50_50", "DNANet"), (src / "ImageSets" / "Main", "VOC")):
        for train_name in ("trainval.txt", "train.txt"):
            if (folder / train_name).is_file() and (folder / "test.txt").is_file():
                found.append((convention, {"train": folder / train_name, "test": folder / "test.txt"}))
                break
    return found


def split_files(src: Path) -> tuple[str, dict[str, Path], list[str]]:
    """The train/test index files of a source (the first of :func:`_all_split_files`), the convention they
    follow, and a warning for each other pair that lists different images."""
    found = _allsplit_files(src)
    if found:
        (convention, files), warnings = found[0], []
        chosen = {k: set(read_index(p)) for k, p in files.items()}
        used = " + ".join(str(p.relative_to(src)) for p in files.values())
        for other, other_files in found[1:]:
            names = " + ".join(str(p.relative_to(src)) for p in other_files.values())
            try:
                sets = {k: set(read_index(p)) for k, p in other_files.items()}
            except DatasetError as e:
                warnings.append(f"{names} ({other}) not compared with {used}: {e}")
                continue
            if sets != chosen:
                warnings.append(f"{src}: {names} ({other}) split the images otherwise "
                                f"({len(sets['train'])} / {len(sets['test'])}); using {used} ({convention}, "
                                f"{len(chosen['train'])} / {len(chosen['test'])})")
        return convention, files, warnings
    raise DatasetError(f"{src}: no split files found (expected img_idx/train_*.txt + test_*.txt, trainval.txt + "
                       f"test.txt, 50_50/train.txt + test.txt, or ImageSets/Main/train.txt + test.txt)")


def unpaired(kind_a: str, a: set[str], kind_b: str, b: set[str]) -> list[str]:
    problems = []
    for missing, have, lacking in ((sorted(a - b), kind_a, kind_b), (sorted(b - a), kind_b, kind_a)):
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            problems.append(f"{len(missing)} {have} without {lacking}: {shown}")
    return problems
