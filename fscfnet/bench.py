"""Speed of models on this machine: parameters, GFLOPs, and latency / throughput of PyTorch eager (unfused),
PyTorch fused and ONNX Runtime (exported on the fly; skipped with the reason when onnx/onnxruntime are missing).

    fscfnet bench --model fscfnet --imgsz 640
    fscfnet bench --model fscfnet yolov10n --imgsz 640 --rounds 5 --out benchmarks/results/bench_cpu_640.json
    fscfnet bench --weights runs/train/exp/weights/best.pt --imgsz 320

Protocol (the only one in the project; ``benchmarks/ultralytics_latency.py`` applies it to Ultralytics' model):
random input in [0, 1), batch ``--batch``; per round every (model, backend) gets ``--warmup`` untimed and
``--iters`` timed forwards, whole model including the top-k selection; ``--rounds`` rounds alternate the order so
that drift on a shared machine hits every entry alike; the median of all samples is the number. On the CPU the
PyTorch backends run channels-last (oneDNN prefers it) unless ``--layout nchw``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from .engine.backends import load_inference_model
from .engine.checkpoint import save_checkpoint
from .errors import UserError
from .nn import build_model
from .nn.summary import count_gflops, count_params
from .utils.cli import check_imgsz, run_cli
from .utils.device import select_device
from .utils.files import write_json
from .utils.provenance import provenance
from .utils.timing import stats, time_rounds

LAYOUTS = ("auto", "channels-last", "nchw")  # auto: channels-last on the CPU, NCHW elsewhere


def memory_format(layout: str, device: torch.device) -> torch.memory_format:
    cl = layout == "channels-last" or (layout == "auto" and device.type == "cpu")
    return torch.channels_last if cl else torch.contiguous_format


def benchmark(models: dict[str, torch.nn.Module], imgsz: int, batch: int = 1, device: torch.device | None = None,
              iters: int = 50, warmup: int = 10, rounds: int = 1, onnx: bool = True, layout: str = "auto",
              log: Callable[[str], None] = print) -> dict:
    """Sizes and timings of each ``name -> model`` (unfused DetectionModels; not modified) in each backend."""
    device = device or torch.device("cpu")
    fmt = memory_format(layout, device)
    x = torch.rand(batch, next(iter(models.values())).ch, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    out = {"imgsz": imgsz, "batch": batch, "device": str(device), "threads": torch.get_num_threads(),
           "layout": "channels-last" if fmt == torch.channels_last else "nchw",
           "protocol": {"iters": iters, "warmup": warmup, "rounds": rounds}, "models": {}}
    runs: dict[str, tuple[Callable, torch.Tensor]] = {}
    for name, model in models.items():
        check_imgsz(imgsz, int(model.stride.max()))
        fused = copy.deepcopy(model).fuse()
        info = {"params": count_params(model), "params_fused": count_params(fused),
                "gflops": count_gflops(model, imgsz, model.ch, train=True),
                "gflops_fused": count_gflops(fused, imgsz, model.ch, train=False), "backends": {}}
        out["models"][name] = info
        log(f"{name}: parameters {info['params']:,} (fused {info['params_fused']:,}); GFLOPs at {imgsz}: "
            f"{info['gflops']:.2f} (fused {info['gflops_fused']:.2f})")
        xi = x.to(device).contiguous(memory_format=fmt)
        for backend, m in (("pytorch", copy.deepcopy(model)), ("pytorch-fused", fused)):
            runs[f"{name}/{backend}"] = (m.eval().to(device, memory_format=fmt), xi)
        if onnx:
            loaded = _onnx_model(model, imgsz, device)
            if isinstance(loaded, str):
                info["backends"]["onnxruntime"] = {"skipped": loaded}
            else:
                runs[f"{name}/onnxruntime"] = (loaded, x.to(device))
    log(f"{device}, {out['threads']} threads, batch {batch}, {out['layout']}; {rounds} round(s) of {warmup} untimed "
        f"+ {iters} timed forwards per backend")
    for key, times in time_rounds(runs, iters, warmup, rounds).items():
        name, backend = key.split("/")
        s = stats(times)
        s["images_per_s"] = 1e3 * batch / s["median_ms"]
        out["models"][name]["backends"][backend] = s
    for name, info in out["models"].items():
        for backend, s in info["backends"].items():
            log(f"{name:<10} {backend:<14} skipped: {s['skipped']}" if "skipped" in s else
                f"{name:<10} {backend:<14} {s['median_ms']:8.2f} ms median {s['p90_ms']:8.2f} ms p90 "
                f"{s['images_per_s']:8.1f} images/s")
    return out


def _onnx_model(model: torch.nn.Module, imgsz: int, device: torch.device):
    """The model exported to ONNX and loaded in ONNX Runtime, or why that is not possible (a string)."""
    from .export import export

    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed (pip install onnxruntime)"
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(Path(tmp) / "m.pt", model, [f"class{i}" for i in range(model.nc)],
                               train_args={"imgsz": imgsz})
        try:
            path = export(ckpt, "onnx", imgsz)
        except UserError as e:
            return str(e)
        return load_inference_model(path, device)  # the session holds the graph; the file may go


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="fscfnet bench", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", nargs="+", help="checkpoints (.pt) written by training")
    src.add_argument("--model", nargs="+", help="model config names or YAMLs (random weights; speed does not "
                                                "depend on them)")
    ap.add_argument("--nc", type=int, default=1, help="classes for --model (default 1)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, or a CUDA index such as 0")
    ap.add_argument("--iters", type=int, default=20, help="timed forwards per backend per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed forwards per backend per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layout", choices=LAYOUTS, default="auto", help="PyTorch memory format (default: "
                                                                     "channels-last on the CPU)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    ap.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers to this JSON file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def go() -> None:
        if args.threads:
            torch.set_num_threads(args.threads)
        if min(args.batch, args.iters, args.rounds) < 1 or args.warmup < 0:
            raise UserError("--batch, --iters and --rounds must be at least 1, --warmup at least 0")
        models = {}
        for w in args.weights or []:
            m = load_inference_model(w, fuse=False).module
            if m is None:
                raise UserError(f"{w}: bench needs a .pt checkpoint (or --model CFG), not an export")
            models[Path(w).stem if len(args.weights) == 1 else str(w)] = m.float()
        for name in args.model or []:
            models[Path(name).stem] = build_model(name, nc=args.nc)
        if len(models) < len(args.weights or args.model):
            raise UserError("bench: two models with one name; give each once")
        result = benchmark(models, args.imgsz, args.batch, select_device(args.device), args.iters, args.warmup,
                           args.rounds, not args.no_onnx, args.layout)
        result["provenance"] = provenance(torch.device(result["device"]))
        if args.out:
            write_json(args.out, result)

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
