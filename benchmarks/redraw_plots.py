"""Redraw the plots kept under benchmarks/results from the files beside them: each experiment's comparison.svg
from its results.json, and each early-epoch study's curves from its early_epochs.py file, with the options its
recorded command gave (git keeps plots as SVG, and the runs they came from are not kept).

    python benchmarks/redraw_plots.py
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import early_epochs  # noqa: E402  (a script beside this one)

from fscfnet.experiments import plot_comparison  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    for f in sorted((RESULTS / "experiments").glob("*/results.json")):
        report = json.loads(f.read_text())
        if isinstance(report, dict):  # the two oldest experiments kept only their rows, no summary
            print(plot_comparison(report["summary"], f.parent / "comparison.svg"))
    for f in sorted(RESULTS.glob("*.json")):
        study = json.loads(f.read_text())
        command = shlex.split(study.get("provenance", {}).get("command", "")) if isinstance(study, dict) else []
        script = [i for i, w in enumerate(command) if w.endswith("early_epochs.py")]
        if not script:
            continue
        args = early_epochs.parser().parse_args(command[script[0] + 1:])
        if args.plot:
            svg = args.plot.with_suffix(".svg")
            early_epochs.plot(study["groups"], svg, args.plot_epochs)
            print(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
