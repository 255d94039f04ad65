"""The seam merge's time, this checkout's against an earlier revision's: crowded tiles (300 boxes each, as validation
keeps) of frames sliced at 320 and 640, merged by ``merge_detections`` of both, with the results compared.

    python benchmarks/merge_speed.py --before 94eba70 --out benchmarks/results/merge_speed.json

The earlier ``fscfnet/data/views.py`` is read with ``git show`` and loaded beside the current package, so both
merge the very same boxes. The slowest cases of the earlier code are timed once (``--before-sides``).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fscfnet.data import views
from fscfnet.utils import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, name: str):
    """A Python file as module ``name`` (registered, since dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def views_at(rev: str, folder: Path):
    """``fscfnet/data/views.py`` as it was at ``rev``, loaded beside the current package."""
    path = folder / "views_before.py"
    path.write_text(subprocess.run(["git", "show", f"{rev}:fscfnet/data/views.py"], cwd=ROOT, check=True,
                                   capture_output=True, text=True).stdout)
    return load(path, "fscfnet.data.views_before")


def seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="a git revision")
    ap.add_argument("--before-sides", type=int, nargs="+", default=[1024], help="frames the earlier code merges")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    crowded_tiles = load(ROOT / "benchmarks" / "slice_speed.py", "slice_speed").crowded_tiles  # the same boxes
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = views_at(args.before, Path(tmp))
        for side, tile in ((1024, 320), (2048, 320), (2048, 640), (4096, 640)):
            parts = crowded_tiles(side, tile)
            now = views.merge_detections(parts, (side, side))
            case = {"tiles": len(parts), "boxes": sum(len(d) for _, d in parts),
                    "after_s": min(seconds(lambda: views.merge_detections(parts, (side, side))) for _ in range(3))}
            if side in args.before_sides:
                old_parts = [(old.View(**{f: getattr(v, f) for f in v.__dataclass_fields__}), d) for v, d in parts]
                case["before_s"] = seconds(lambda: old.merge_detections(old_parts, (side, side)))
                case["same_boxes"] = bool(np.array_equal(old.merge_detections(old_parts, (side, side)), now))
            cases[f"{side} px sliced at {tile}"] = case
            print(f"{side} px at {tile}: {case['boxes']} boxes, after {case['after_s']:.3f} s"
                  + (f", before {case['before_s']:.2f} s, same boxes: {case['same_boxes']}" if "before_s" in case
                     else ""))
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                          "before": args.before, "cases": cases, "provenance": provenance("cpu")})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
