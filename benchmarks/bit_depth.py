"""The 14-bit case end to end: a test split rewritten as 14-bit PNGs (each 8-bit value x64 plus an offset, with
sensor noise, in 16-bit files) scored against the 8-bit split with one trained model, under the policy a 14-bit
sensor calls for (``range 0 16383`` as documented, ``range OFFSET OFFSET+16320`` fitted to the offset, and
per-frame ``percentile``) and under ``8bit``, which sees the frames at a quarter of their range and says so.

    python benchmarks/bit_depth.py --weights runs/train/exp/weights/best.pt --data NUAA-SIRST \\
        --out benchmarks/results/bit_depth_nuaa.json

Writes the 14-bit copy under a temporary folder (never into the dataset), runs ``val.py`` once per (split, policy)
and records AP50, AP50:95, P, R, the warnings printed and the commands.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fscfnet.data import open_dataset
from fscfnet.utils import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
OFFSET, NOISE = 40, 6.0  # 14-bit frames: 64 v + 40 + N(0, 6), clipped to 0..16383


def fourteen_bit_copy(data: str, out: Path, seed: int = 0) -> Path:
    """The dataset's test split as 14-bit PNGs with the same labels and index; returns its YAML."""
    cfg = open_dataset(data)
    rng = np.random.default_rng(seed)
    for sub in ("images", "labels", "img_idx"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    index = cfg.index_file("test")
    stems = [s for s in index.read_text().split() if s]
    for stem in stems:
        src = next((cfg.root / "images").glob(f"{stem}.*"))
        img = cv2.imread(str(src), cv2.IMREAD_UNCHANGED).astype(np.float64)
        deep = np.clip(np.rint(img * 64 + OFFSET + rng.normal(0, NOISE, img.shape)), 0, 2 ** 14 - 1).astype(np.uint16)
        cv2.imwrite(str(out / "images" / f"{stem}.png"), deep)
        label = cfg.root / "labels" / f"{stem}.txt"
        if label.is_file():
            (out / "labels" / f"{stem}.txt").write_text(label.read_text())
    (out / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\nnames: {cfg.names}\n")
    return yaml_path


def val(weights: str, data: str, norm: str, out: Path, name: str) -> dict:
    cmd = [sys.executable, str(ROOT / "val.py"), "--weights", weights, "--data", data, "--norm", norm, "--workers", "2",
           "--device", "cpu", "--project", str(out), "--name", name]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    m = json.loads((out / name / "metrics.json").read_text())
    warnings = [line for line in p.stderr.splitlines() if line.startswith("warning:")]
    return {"command": shlex.join(cmd), "norm": norm, **{k: m[k] for k in ("ap50", "ap50_95", "precision", "recall")},
            "mode": m["mode"]["description"], "warnings": warnings}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", default="NUAA-SIRST")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        deep = fourteen_bit_copy(args.data, Path(tmp) / "deep")
        top = OFFSET + 255 * 64
        runs = {"8-bit split, 8bit": val(args.weights, args.data, "8bit", Path(tmp), "a"),
                f"14-bit split, range {OFFSET} {top}": val(args.weights, str(deep), f"range {OFFSET} {top}",
                                                           Path(tmp), "b"),
                "14-bit split, range 0 16383": val(args.weights, str(deep), "range 0 16383", Path(tmp), "f"),
                "14-bit split, 8bit": val(args.weights, str(deep), "8bit", Path(tmp), "c"),
                "8-bit split, percentile 0.5 99.5": val(args.weights, args.data, "percentile 0.5 99.5", Path(tmp), "d"),
                "14-bit split, percentile 0.5 99.5": val(args.weights, str(deep), "percentile 0.5 99.5", Path(tmp),
                                                         "e")}
    base = runs["8-bit split, 8bit"]["ap50"]
    for name, r in runs.items():
        r["ap50_minus_8bit_split"] = r["ap50"] - base
        print(f"{name:40s} AP50 {r['ap50']:.4f} ({r['ap50'] - base:+.4f}) AP50:95 {r['ap50_95']:.4f}"
              f"{'  WARNING: ' + r['warnings'][0][:90] if r['warnings'] else ''}")
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                          "weights": args.weights, "data": args.data, "fourteen_bit": f"64 v + {OFFSET} + N(0, {NOISE})",
                          "provenance": provenance("cpu"), "runs": runs})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
