"""Make a shipped checkpoint: a trained run's weights in half precision with its model card.

    fscfnet ship runs/train/exp/weights/best.pt --name fscfnet-irstd --conf 0.3 \\
        --about "one class: small infrared targets; trained on NUAA-SIRST, NUDT-SIRST and IRSTD-1K"

writes fscfnet/weights/NAME.pt (refused over 10 MB, or under a model config's name). The card records the name,
the recommended confidence, the description, and the commit and command that trained the run (its
provenance.json). How far half precision moves a trained model's detections: benchmarks/half_precision.py."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fscfnet.cfg.paths import model_names
from fscfnet.engine.checkpoint import load_checkpoint, save_shipped
from fscfnet.engine.run_dir import RunFiles
from fscfnet.errors import UserError
from fscfnet.utils.cli import check_conf, run_cli
from fscfnet import weights


def card_for(src: Path, name: str, conf: float, about: str) -> dict:
    """The card: name, conf, description, and the run's first start (commit, command, software) when recorded."""
    first = (RunFiles.of_checkpoint(src).starts() or [{}])[0]
    return {"name": name, "conf": conf, "about": about, "commit": first.get("commit"), "command": first.get("command"),
            "epochs": int(load_checkpoint(src)["epoch"]) + 1, "torch": first.get("torch")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, help="a trained checkpoint (best.pt or last.pt)")
    ap.add_argument("--name", required=True, help="the name it loads by, e.g. fscfnet-irstd")
    ap.add_argument("--conf", type=float, required=True, help="the confidence detection keeps by default")
    ap.add_argument("--about", required=True, help="one line: what it detects and what it was trained on")
    ap.add_argument("--out-dir", type=Path, default=None, help="default: the package's weights folder")
    args = ap.parse_args(argv)

    def run() -> None:
        check_conf(args.conf)
        if not args.name.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"--name {args.name!r}: letters, digits, - and _ only")
        if args.name in model_names():
            raise UserError(f"--name {args.name}: that is a model config's name (an untrained network); choose "
                            f"another, e.g. {args.name}-mydata")
        out_dir = args.out_dir or weights.WEIGHTS_DIR
        dst = out_dir / f"{args.name}.pt"
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:  # a file over the limit never replaces one
            packed = save_shipped(args.weights, Path(tmp) / dst.name,
                                  card_for(args.weights, args.name, args.conf, args.about))
            size = packed.stat().st_size
            if size > weights.MAX_BYTES:
                raise UserError(f"{args.weights}: {size / 2**20:.1f} MB in half precision, over the "
                                f"{weights.MAX_BYTES / 2**20:.0f} MB a shipped checkpoint may weigh")
            packed.replace(dst)
        print(f"{dst}: {size / 2**20:.2f} MB")

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
