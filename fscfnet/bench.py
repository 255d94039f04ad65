"""Speed of a model on this machine: parameters, GFLOPs, and latency / throughput for PyTorch eager (unfused),
PyTorch fused, and ONNX Runtime (exported on the fly; skipped with the reason when onnx/onnxruntime are missing).

    python -m fscfnet.bench --model cfg/models/fscfnet.yaml --imgsz 640 [--batch 1] [--device cpu] [--out r.json]
    python -m fscfnet.bench --weights runs/train/exp/weights/best.pt --imgsz 320

On CPU the PyTorch models run channels-last (faster with oneDNN); latency is the median of ``--iters`` timed
forwards after ``--warmup`` untimed ones, on random input, whole model including the top-k selection.
"""

from __future__ import annotations

import argparse
import importlib.util
import copy
import sys
import tempfile
from pathlib import Path

import torch

from .engine.backends import load_inference_model
from .errors import UserError
from .nn import build_model
from .nn.summary import count_gflops, count_params
from .engine.checkpoint import save_checkpoint
from .utils.cli import check_imgsz, run_cli
from .utils.device import select_device
from .utils.files import write_json
from .utils.timing import stats, time_forward


def _pytorch_runner(model: torch.nn.Module, device: torch.device):
    cpu = device.type == "cpu"
    model = model.eval().to(device, memory_format=torch.channels_last if cpu else torch.contiguous_format)
    return lambda x: model(x), cpu


def benchmark(model: torch.nn.Module, imgsz: int, batch: int = 1, device: torch.device | None = None,
              iters: int = 50, warmup: int = 10, onnx: bool = True, log=print) -> dict:
    """Timings of ``model`` (an unfused DetectionModel; it is not modified) in each backend."""
    device = device or torch.device("cpu")
    stride = int(model.stride.max())
    check_imgsz(imgsz, stride)
    fused = copy.deepcopy(model).fuse()
    out = {"imgsz": imgsz, "batch": batch, "device": str(device), "threads": torch.get_num_threads(),
           "params": count_params(model), "params_fused": count_params(fused),
           "gflops": count_gflops(model, imgsz, model.ch, train=True),
           "gflops_fused": count_gflops(fused, imgsz, model.ch, train=False), "backends": {}}
    log(f"parameters {out['params']:,} (fused {out['params_fused']:,}); GFLOPs at {imgsz}: {out['gflops']:.2f} "
        f"(fused {out['gflops_fused']:.2f}); {device}, {out['threads']} threads, batch {batch}")
    x = torch.rand(batch, model.ch, imgsz, imgsz)
    for name, m in (("pytorch", copy.deepcopy(model)), ("pytorch-fused", fused)):
        run, cl = _pytorch_runner(m, device)
        xi = x.to(device).contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
        out["backends"][name] = stats(time_forward(run, xi, iters, warmup))
    if onnx:
        out["backends"]["onnxruntime"] = _onnx_timing(model, imgsz, batch, device, iters, warmup, x)
    for name, s in out["backends"].items():
        if "median_ms" in s:
            s["images_per_s"] = 1e3 * batch / s["median_ms"]
            log(f"{name:<15} {s['median_ms']:8.2f} ms median  {s['p90_ms']:8.2f} ms p90  "
                f"{s['images_per_s']:8.1f} images/s")
        else:
            log(f"{name:<15} skipped: {s['skipped']}")
    return out


def _onnx_timing(model: torch.nn.Module, imgsz: int, batch: int, device: torch.device, iters: int, warmup: int,
                 x: torch.Tensor) -> dict:
    from .export import export

    if importlib.util.find_spec("onnxruntime") is None:
        return {"skipped": "onnxruntime is not installed (pip install onnxruntime)"}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(Path(tmp) / "m.pt", model, [f"class{i}" for i in range(model.nc)],
                               train_args={"imgsz": imgsz})
        try:
            path = export(ckpt, "onnx", imgsz)
        except UserError as e:
            return {"skipped": str(e)}
        loaded = load_inference_model(path, device)
        return stats(time_forward(loaded, x, iters, warmup))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.bench", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="checkpoint (.pt) written by train.py")
    src.add_argument("--model", help="model YAML (random weights; speed does not depend on them)")
    ap.add_argument("--nc", type=int, default=1, help="classes for --model (default 1)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="auto", help="auto, cpu, or a CUDA index such as 0")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    ap.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers to this JSON file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def go() -> None:
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.batch < 1 or args.iters < 1:
            raise UserError("--batch and --iters must be at least 1")
        if args.weights:
            model = load_inference_model(args.weights, fuse=False).module
            if model is None:
                raise UserError(f"{args.weights}: bench needs a .pt checkpoint (or --model CFG), not an export")
        else:
            model = build_model(args.model, nc=args.nc)
        result = benchmark(model.float(), args.imgsz, args.batch, select_device(args.device), args.iters,
                           args.warmup, not args.no_onnx)
        result["model"] = args.weights or args.model
        if args.out:
            write_json(args.out, result)

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
