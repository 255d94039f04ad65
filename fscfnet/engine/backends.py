"""Load a model file for inference, whatever it holds: an FSCFNet checkpoint, an exported ONNX graph (run by
ONNX Runtime) or an exported TorchScript module. The format is read from the file's content, not its name.

Every backend is called the same way: ``(B, ch, H, W)`` float in [0, 1] -> ``(B, max_det, 6)`` float detections
(x1, y1, x2, y2, score, class) in input pixels, on the CPU. ``InferenceModel.device`` is where the model really
runs (an ONNX model asked for CUDA says ``cpu`` when ONNX Runtime has no CUDA provider or falls back).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..cfg.norm import InputNorm
from ..data.views import InferenceMode, round_up
from ..errors import UserError
from ..utils.cli import check_imgsz
from ..weights import resolve_weights
from .checkpoint import file_kind, load_checkpoint, model_from_checkpoint

DEFAULT_CONF = 0.25  # detect's confidence unless the command or a shipped checkpoint's card sets one
META_KEY = "fscfnet"  # ONNX metadata_props key / TorchScript extra file holding the metadata JSON


def model_input(images: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """``(B, C, H, W)`` uint8 images -> the network's input: float in [0, 1] on ``device`` (channels-last when
    asked: faster for PyTorch convolutions on the CPU). Training, validation and inference all prepare it here."""
    x = images.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


@dataclass
class InferenceModel:
    """A loaded model and what inference needs to know about it."""

    run: Callable[[torch.Tensor], torch.Tensor]
    names: list[str]
    ch: int
    stride: int
    imgsz: int  # default square input size: the training size, or the exported one
    device: torch.device
    format: str  # "pytorch", "onnx" or "torchscript"
    path: Path
    fixed_imgsz: bool = False  # an export with static input size accepts only ``imgsz``
    channels_last: bool = False  # feed channels-last batches (faster for PyTorch on CPU)
    train_args: dict = field(default_factory=dict)
    module: torch.nn.Module | None = None  # the fused PyTorch model, for the "pytorch" format
    scale: str = "resize"  # how the training images were scaled: "resize" (letterboxed) or "native" (crops)
    norm: InputNorm = field(default_factory=InputNorm)  # how frame values became 0..255 in training
    card: dict = field(default_factory=dict)  # a shipped checkpoint's card (name, conf, ...); {} otherwise

    @property
    def nc(self) -> int:
        return len(self.names)

    @property
    def input_device(self) -> torch.device:
        """Where a batch is made ready for the model: its device, except for ONNX Runtime, which reads host
        memory whatever provider runs the graph (a batch on the GPU would only travel there and back)."""
        return torch.device("cpu") if self.format == "onnx" else self.device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def check_imgsz(self, imgsz: int | None) -> int:
        """The input size to use: ``imgsz`` or the default; a clear error when the model cannot take it."""
        size = int(imgsz or self.imgsz)
        check_imgsz(size, self.stride)
        if self.fixed_imgsz and size != self.imgsz:
            raise UserError(f"{self.path}: exported for {self.imgsz}x{self.imgsz} input only; pass --imgsz "
                            f"{self.imgsz} or export again with --dynamic")
        return size

    def default_mode(self) -> InferenceMode:
        """The inference mode that matches the training: native scale for a model trained on native-scale crops,
        else the letterbox at the training size."""
        return InferenceMode.matching(self.scale, self.imgsz)

    def check_mode(self, mode: InferenceMode) -> None:
        """A clear error when the model cannot take the inputs ``mode`` makes (an export with a fixed input size
        takes only ``imgsz`` x ``imgsz``)."""
        check_imgsz(mode.imgsz, self.stride)
        if not self.fixed_imgsz:
            return
        fits = {"letterbox": mode.imgsz == self.imgsz, "native": False,
                "slice": round_up(mode.tile, self.stride) == self.imgsz and (not mode.full_frame or
                                                                           mode.imgsz == self.imgsz)}[mode.kind]
        if not fits:
            raise UserError(f"{self.path}: exported for {self.imgsz}x{self.imgsz} input only, so {mode.describe()} "
                            f"cannot run; use --imgsz {self.imgsz} or --slice {self.imgsz}, or export again with "
                            f"--dynamic")

    @property
    def conf(self) -> float:
        """The confidence detection keeps by default: the shipped checkpoint's recommendation, else 0.25."""
        return float(self.card.get("conf", DEFAULT_CONF))

    def identity(self) -> str:
        """Which model this is, for the first line a command prints."""
        data = self.train_args.get("data")
        data = "+".join(map(str, data)) if isinstance(data, list) else data
        if self.card:
            return (f"{self.card.get('name', self.path.stem)} (shipped with fscfnet: {', '.join(self.names)}, trained on {data} at commit "
                    f"{self.card.get('commit', '?')}; recommended conf {self.conf:g})")
        return f"{self.path} ({', '.join(self.names)}{f', trained on {data}' if data else ''})"

    def metadata(self) -> dict:
        return {"names": self.names, "ch": self.ch, "stride": self.stride, "imgsz": self.imgsz,
                "data": self.train_args.get("data"), "scale": self.scale, "input_norm": str(self.norm),
                **({"card": self.card} if self.card else {})}


def from_module(model: torch.nn.Module, names: list[str], device: torch.device, fuse: bool = True,
                train_args: dict | None = None, path: Path | str = "<model>", channels_last: bool | None = None
                ) -> InferenceModel:
    """Wrap a :class:`DetectionModel` for inference, in eval mode: fused unless ``fuse`` is False, channels-last
    (faster on the CPU) unless ``channels_last`` says otherwise (a model still training keeps its own layout)."""
    if fuse:
        model.fuse()
    cpu = device.type == "cpu" if channels_last is None else channels_last
    model = model.eval().to(device)
    if cpu:
        model = model.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(x: torch.Tensor) -> torch.Tensor:
        return model(x.to(device, non_blocking=True)).float().cpu()

    train_args = dict(train_args or {})
    return InferenceModel(run, list(names), model.ch, int(model.stride.max()), int(train_args.get("imgsz") or 640),
                          device, "pytorch", Path(path), channels_last=cpu, train_args=train_args, module=model,
                          scale=str(train_args.get("scale") or "resize"), norm=InputNorm.parse(train_args.get("input_norm")))


def _pytorch(path: Path, device: torch.device, fuse: bool) -> InferenceModel:
    ckpt = load_checkpoint(path)
    model = from_module(model_from_checkpoint(ckpt), ckpt["names"], device, fuse, ckpt.get("train_args", {}), path)
    model.card = dict(ckpt.get("card") or {})
    return model


def _meta(path: Path, raw: str | bytes | None) -> dict:
    try:
        meta = json.loads(raw or "")
        return {**meta, "names": list(meta["names"]), "ch": int(meta["ch"]), "stride": int(meta["stride"]),
                "imgsz": int(meta["imgsz"])}
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: no FSCFNet metadata in this export; export it with python -m fscfnet.export") from None


def _onnx(path: Path, device: torch.device) -> InferenceModel:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError(f"{path}: running ONNX models needs onnxruntime: pip install onnxruntime") from None
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: ONNX Runtime cannot load it ({first})") from None
    if "CUDAExecutionProvider" not in session.get_providers():  # not installed, or ORT fell back to the CPU
        device = torch.device("cpu")
    meta = _meta(path, session.get_modelmeta().custom_metadata_map.get(META_KEY))
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: x.detach().cpu().float().numpy()})[0])

    return InferenceModel(run, meta["names"], meta["ch"], meta["stride"], meta["imgsz"], device, "onnx", path,
                          fixed_imgsz=not meta.get("dynamic", False), train_args={"data": meta.get("data")},
                          scale=meta.get("scale") or "resize", norm=InputNorm.parse(meta.get("input_norm")),
                          card=dict(meta.get("card") or {}))


def _torchscript(path: Path, device: torch.device) -> InferenceModel:
    extra = {META_KEY: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PyTorch deprecates TorchScript; it still runs
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra).eval()
    except RuntimeError as e:
        raise UserError(f"{path}: cannot load this TorchScript file ({str(e).strip().splitlines()[0][:200]})") from None
    meta = _meta(path, extra[META_KEY])

    @torch.no_grad()
    def run(x: torch.Tensor) -> torch.Tensor:
        return module(x.to(device)).float().cpu()

    return InferenceModel(run, meta["names"], meta["ch"], meta["stride"], meta["imgsz"], device, "torchscript",
                          path, fixed_imgsz=False, train_args={"data": meta.get("data")}, scale=meta.get("scale") or "resize",
                          norm=InputNorm.parse(meta.get("input_norm")), card=dict(meta.get("card") or {}))


def load_inference_model(path: Path | str, device: torch.device | None = None, fuse: bool = True) -> InferenceModel:
    """Load ``path`` (checkpoint, ONNX or TorchScript; or a shipped checkpoint's name) for inference on
    ``device`` (default CPU)."""
    path, device = resolve_weights(path), device or torch.device("cpu")
    kind = file_kind(path)
    if kind == "checkpoint":
        return _pytorch(path, device, fuse)
    if kind == "torchscript":
        return _torchscript(path, device)
    if kind == "onnx":
        return _onnx(path, device)
    what = "a model config (no trained weights)" if kind == "config" else "neither an FSCFNet checkpoint nor an ONNX or TorchScript export"
    raise UserError(f"{path}: {what}")
