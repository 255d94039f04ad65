"""Training throughput on the CPU: wall time of a short real run (loading, training, per-epoch validation), for this
project's trainer — at this checkout or another one (``--checkout``, e.g. a worktree of an earlier commit) — and
for Ultralytics' YOLOv10-n in its own virtual environment (never a dependency of this project).

    python benchmarks/train_speed.py --data NUAA-SIRST --imgsz 320 --batch 16 --epochs 3 \\
        --runs project:yolov10n project:fscfnet base:yolov10n base:fscfnet ultralytics:yolov10n \\
        --checkout base=/tmp/basetree --ultralytics-python /tmp/ulvenv/bin/python \\
        --out benchmarks/results/train_speed_nuaa_320.json

Runs one at a time (a timing beside another job is void). The JSON records the commands, versions, wall times,
images/s (training images x epochs / wall time) and the last epoch's results.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

UL_SCRIPT = """
import sys, time
from ultralytics import YOLO
data, imgsz, batch, epochs, workers, project = sys.argv[1:7]
t = time.perf_counter()
YOLO("yolov10n.yaml").train(data=data, imgsz=int(imgsz), batch=int(batch), epochs=int(epochs), workers=int(workers),
                            device="cpu", project=project, name="ul", exist_ok=True, plots=False, seed=0, amp=False)
print(f"WALL {time.perf_counter() - t:.2f}")
"""


def ultralytics_data(cfg, tmp: Path) -> Path:
    """An Ultralytics dataset YAML over a prepared dataset (a DataConfig; image lists, labels beside images/ in
    labels/)."""
    from fscfnet.data import read_index

    for split in ("train", "test"):
        stems = read_index(cfg.index_file(split))
        images = {p.stem: p for p in (cfg.root / "images").iterdir()}
        (tmp / f"{split}.txt").write_text("".join(f"{images[s].resolve()}\n" for s in stems))
    cfg = tmp / "data.yaml"
    cfg.write_text(f"train: {tmp / 'train.txt'}\nval: {tmp / 'test.txt'}\nnames: {{0: target}}\n")
    return cfg


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    return wall, p.stdout + p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="NUAA-SIRST")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", nargs="+", required=True, help="IMPL:MODEL, IMPL = project, a --checkout name, ultralytics")
    ap.add_argument("--checkout", nargs="*", default=[], metavar="NAME=PATH", help="other checkouts of this project")
    ap.add_argument("--ultralytics-python", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    checkouts = {"project": ROOT, **{k: Path(v) for k, v in (c.split("=", 1) for c in args.checkout)}}
    work = Path(tempfile.mkdtemp(prefix="train_speed_"))
    from fscfnet.data import open_dataset, read_index

    data_cfg = open_dataset(args.data)
    n_train = len(read_index(data_cfg.index_file("train")))
    from fscfnet.utils import provenance

    report = {"provenance": provenance("cpu"), "data": args.data, "train_images": n_train, "imgsz": args.imgsz,
              "batch": args.batch, "epochs": args.epochs, "workers": args.workers, "runs": []}
    for spec in args.runs:
        impl, model = spec.split(":")
        if impl == "ultralytics":
            data = ultralytics_data(data_cfg, work)
            cmd = [args.ultralytics_python, "-c", UL_SCRIPT, str(data), str(args.imgsz), str(args.batch),
                   str(args.epochs), str(args.workers), str(work / "ul")]
            wall, text = run(cmd, work)
            results = work / "ul" / "ul" / "results.csv"
        else:
            cwd = checkouts[impl]
            cmd = [sys.executable, "train.py", "--model", f"cfg/models/{model}.yaml", "--data", args.data, "--imgsz",
                   str(args.imgsz), "--batch", str(args.batch), "--epochs", str(args.epochs), "--workers",
                   str(args.workers), "--device", "cpu", "--project", str(work / impl), "--name", model]
            wall, text = run(cmd, cwd)
            results = work / impl / model / "results.csv"
        rows = list(csv.DictReader(results.open())) if results.is_file() else []
        last = {k.strip(): v.strip() for k, v in rows[-1].items()} if rows else {}
        entry = {"impl": impl, "model": model, "wall_s": wall, "images_per_s": n_train * args.epochs / wall,
                 "last_epoch": last, "cmd": " ".join(cmd[:2] + ["<script>"] + cmd[3:]) if impl == "ultralytics"
                 else " ".join(cmd)}
        report["runs"].append(entry)
        print(f"{impl:>12} {model:<9} {wall:7.1f} s  {entry['images_per_s']:6.1f} train images/s (incl. validation)",
              flush=True)
    by = {(r["impl"], r["model"]): r["wall_s"] for r in report["runs"]}
    ratios = {}
    if ("project", "yolov10n") in by and ("ultralytics", "yolov10n") in by:
        ratios["project_yolov10n_over_ultralytics"] = by[("project", "yolov10n")] / by[("ultralytics", "yolov10n")]
    if ("project", "yolov10n") in by and ("project", "fscfnet") in by:
        ratios["fscfnet_over_project_yolov10n"] = by[("project", "fscfnet")] / by[("project", "yolov10n")]
    for impl in checkouts:
        if impl != "project" and (impl, "yolov10n") in by and ("project", "yolov10n") in by:
            ratios[f"project_over_{impl}_yolov10n"] = by[("project", "yolov10n")] / by[(impl, "yolov10n")]
        if impl != "project" and (impl, "fscfnet") in by and ("project", "fscfnet") in by:
            ratios[f"project_over_{impl}_fscfnet"] = by[("project", "fscfnet")] / by[(impl, "fscfnet")]
    report["wall_time_ratios"] = ratios
    print(json.dumps(ratios, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
