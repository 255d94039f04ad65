"""Index file -> images + YOLO labels -> letterboxed (and, for training, augmented) tensors."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..cfg.augment import AugmentConfig
from ..cfg.data import DataConfig
from ..cfg.norm import InputNorm
from ..errors import DatasetError
from .augment import filter_boxes, flip, mosaic, native_crop, photometric, random_affine
from .images import ImageReader, image_files
from .labels import read_index, read_yolo_labels
from .letterbox import Letterbox


def split_entries(cfg: DataConfig, split: str, warn: Callable[[str], None] | None = None) -> list[tuple[Path, Path | None]]:
    """(image, label file or None) of a split: the index file's images (a missing label file: a background
    image), and for the training split the frames in the config's ``background`` folders (all background). A
    folder the config lists but that does not exist is reported through ``warn``."""
    index = cfg.index_file(split)
    stems = read_index(index)
    if not stems:
        raise DatasetError(f"{index}: the index file lists no images")
    files = image_files(cfg.root / "images") if (cfg.root / "images").is_dir() else {}
    missing = [s for s in stems if s not in files]
    if missing:
        raise DatasetError(f"{index}: {len(missing)} listed images have no file in {cfg.root / 'images'}: "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    labels = [cfg.root / "labels" / f"{s}.txt" for s in stems]
    entries = [(files[s], p if p.is_file() else None) for s, p in zip(stems, labels)]
    for folder in (["background"] if cfg.background is None else cfg.background) if split == "train" else ():
        if (cfg.root / folder).is_dir():
            entries += [(p, None) for _, p in sorted(image_files(cfg.root / folder).items())]
        elif cfg.background is not None and warn is not None:
            warn(f"warning: {cfg.source or cfg.path}: background folder {cfg.root / folder} does not exist; "
                 f"it adds nothing to training")
    return entries


def background_share(targets: int, background: int, ratio: float | None) -> int:
    """How many of ``background`` target-free images an epoch holds beside ``targets`` images with targets, so
    that they make up ``ratio`` of it (all of them when there are too few, or no ratio, or no targets)."""
    if ratio is None or not targets:
        return background
    return min(background, round(ratio / (1 - ratio) * targets))


def epoch_images(cfg: DataConfig, split: str, ratio: float | None) -> int:
    """Images per epoch of ``split`` under ``background_ratio`` ``ratio``, from the index and label files alone
    (no image is decoded, so an unreadable one still counts): what the optimizer-step count of a plan needs."""
    entries = split_entries(cfg, split)
    targets = sum(1 for _, label in entries if label is not None and len(read_yolo_labels(label, cfg.nc)))
    return targets + background_share(targets, len(entries) - targets, ratio)


class IRSTDDataset(Dataset):
    """One split of a dataset: augmented training samples (``dataset[i]``), or whole frames for validation
    (``augment=None``, :meth:`frame`). ``scale``: training samples from letterboxed images ("resize") or from
    crops at the frames' own pixel scale ("native")."""

    def __init__(self, cfg: DataConfig, split: str, imgsz: int, augment: AugmentConfig | None = None,
                 channels: int = 3, cache: bool = False, seed: int = 0, log: Callable[[str], None] = print,
                 scale: str = "resize", norm: InputNorm | None = None, background_ratio: float | None = None):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.cfg, self.split, self.imgsz, self.augment, self.channels = cfg, split, imgsz, augment, channels
        self.native = augment is not None and scale == "native"  # training on native-scale crops (else resized)
        self.seed, self.epoch = seed, 0
        self.background_ratio = background_ratio  # None: every image every epoch (epoch_indices)
        self._pools: dict[int, list[int]] = {}
        self.mosaic_until: int | None = None  # first epoch without mosaic (close_mosaic); None: mosaic throughout
        self.reader = ImageReader(channels, norm, log)
        entries = split_entries(cfg, split, log)

        def probe(path: Path) -> tuple[tuple[int, int], np.ndarray | None] | None:
            """Decoded to be sure it reads; only its shape is kept (and its cached pixels with ``cache``), so a
            long video split is never held in memory decoded."""
            img = self.reader.read(path)
            if img is None:
                return None
            kept = (img if self.keeps_frames else Letterbox(img.shape[:2], imgsz).resize(img)) if cache else None
            return img.shape[:2], kept

        with ThreadPoolExecutor(max_workers=4) as pool:  # OpenCV decodes without the GIL
            probed = list(pool.map(lambda e: probe(e[0]), entries))
        self.paths, self.labels, self.shapes, self._cache, self.skipped = [], [], [], [], []
        no_label = 0
        for (path, label_file), found in zip(entries, probed):
            if found is None:
                self.skipped.append(str(path))
                log(f"warning: {path}: cannot be read as an image; skipped")
                continue
            self.paths.append(path)
            self.labels.append(read_yolo_labels(label_file, cfg.nc) if label_file else np.zeros((0, 5), np.float32))
            self.shapes.append(found[0])
            no_label += label_file is None
            if cache:
                self._cache.append(found[1])
        if not self.paths:
            raise DatasetError(f"{cfg.index_file(split)}: none of the {len(entries)} listed images could be read")
        self.summary = self._summary(no_label, cache)

    def _summary(self, no_label: int, cache: bool) -> str:
        targets = sum(len(lab) for lab in self.labels)
        background = sum(len(lab) == 0 for lab in self.labels)
        return (f"{self.cfg.name} {self.split}: {len(self.paths)} images, {targets} targets, {background} background "
                f"({no_label} without a label file), {len(self.skipped)} unreadable skipped"
                f"{', cached in RAM' if cache else ''}")

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """The epoch ``dataset[i]`` samples for; loaders pass ``(epoch, i)`` keys instead (:class:`EpochSampler`)."""
        self.epoch = epoch

    def epoch_indices(self, epoch: int) -> list[int] | None:
        """One epoch's images when target-free images are to make up ``background_ratio`` of it (None without
        one: every image): every image with a target and as many background images as that takes (all of them,
        if there are fewer), drawn anew each epoch from (seed, epoch) alone, so the count, and the epoch's length,
        stay the same. A split without targets keeps every image. Mosaic partners come from the same images."""
        if self.background_ratio is None:
            return None
        if epoch not in self._pools:
            targets = [i for i, lab in enumerate(self.labels) if len(lab)]
            background = [i for i, lab in enumerate(self.labels) if not len(lab)]
            k = background_share(len(targets), len(background), self.background_ratio)
            rng = np.random.default_rng([self.seed, epoch, len(self), 1])  # not a sample's (seed, epoch, i) stream
            chosen = rng.choice(len(background), k, replace=False) if k < len(background) else range(len(background))
            self._pools = {e: v for e, v in self._pools.items() if e >= epoch - 1}  # memory stays flat over epochs
            self._pools[epoch] = sorted(targets + [background[j] for j in chosen])
        return self._pools[epoch]

    def mosaic_on(self, epoch: int) -> bool:
        return self.augment is not None and self.augment.mosaic > 0 and (self.mosaic_until is None or
                                                                         epoch < self.mosaic_until)

    @property
    def keeps_frames(self) -> bool:
        """Whether samples are cut from whole frames (validation, native-scale training), not resized images."""
        return self.augment is None or self.native

    def letterbox(self, i: int) -> Letterbox:
        return Letterbox(tuple(self.shapes[i]), self.imgsz)

    def frame(self, i: int) -> np.ndarray:
        """Image ``i`` as read, ``(H, W, C)`` uint8 (RGB when C = 3)."""
        if self._cache and self.keeps_frames:
            return self._cache[i]
        img = self.reader.read(self.paths[i])
        if img is None:
            raise DatasetError(f"{self.paths[i]}: became unreadable after it was first read")
        return img

    def load(self, i: int) -> np.ndarray:
        """Image ``i`` resized to long side ``imgsz``, not padded."""
        if self._cache and not self.keeps_frames:
            return self._cache[i]
        return self.letterbox(i).resize(self.frame(i))

    def letterboxed(self, i: int) -> tuple[np.ndarray, np.ndarray, Letterbox]:
        """Image ``i`` as a ``(S, S, C)`` network input, its boxes in input pixels, and the map back."""
        lb = self.letterbox(i)
        return lb.pad_image(self.load(i)), lb.boxes_to_input(self.pixel_boxes(i)), lb

    def pixel_boxes(self, i: int) -> np.ndarray:
        """Image ``i``'s targets as ``(m, 4)`` x1, y1, x2, y2 in original pixels (float64)."""
        h, w = self.shapes[i]
        lab = self.labels[i].astype(np.float64)
        xy, wh = lab[:, 1:3] * (w, h), lab[:, 3:5] * (w, h)
        return np.concatenate([xy - wh / 2, xy + wh / 2], 1)

    def __getitem__(self, key: int | tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, str]:
        """Training sample ``key`` = index (in the epoch of :meth:`set_epoch`) or ``(epoch, index, *draw)``: the
        augmented ``(C, S, S)`` uint8 image, its ``(n, 5)`` class, cx, cy, w, h targets (normalised to the input,
        as in YOLO label files), and the image's path. Every random draw depends only on (seed, epoch, index,
        *draw), so any worker, in any order, gives the same sample; ``draw`` tells apart the copies of an image
        that an epoch holds more than once (a mix's oversampled dataset). (Validation reads whole frames:
        :meth:`frame`.)"""
        if self.augment is None:
            raise TypeError(f"{self.cfg.name} {self.split}: a dataset without augmentation is read with frame(i)")
        epoch, i, *draw = key if isinstance(key, tuple) else (self.epoch, key)
        aug, size = self.augment, self.imgsz
        rng = np.random.default_rng([self.seed, epoch, i, *draw])
        if self.mosaic_on(epoch) and rng.random() < aug.mosaic:
            pool = self.epoch_indices(epoch)
            partners = rng.integers(0, len(self) if pool is None else len(pool), 3).tolist()
            idx = [i, *(partners if pool is None else [pool[j] for j in partners])]
            tiles = [self._tile(j, rng, padded=False) for j in idx]
            img, boxes = mosaic([t for t, _ in tiles], [b for _, b in tiles], size, rng)
            classes = np.concatenate([self.labels[j][:, 0] for j in idx])
        else:
            (img, boxes), classes = self._tile(i, rng, padded=True), self.labels[i][:, 0].copy()
        img, boxes = random_affine(img, boxes, size, aug.translate, 0.0 if self.native else aug.scale, rng)
        if rng.random() < aug.fliplr:
            img, boxes = flip(img, boxes, horizontal=True)
        if rng.random() < aug.flipud:
            img, boxes = flip(img, boxes, horizontal=False)
        img = photometric(img, aug.brightness, aug.contrast, aug.gamma, rng)
        boxes, classes = filter_boxes(boxes, classes, size, size, aug.min_box_px, aug.min_visible)
        from torchvision.ops import box_convert  # here, not at the top: see pad_targets

        xywh = box_convert(torch.from_numpy(boxes.reshape(-1, 4)), "xyxy", "cxcywh") / size
        target = torch.cat([torch.from_numpy(classes).reshape(-1, 1).to(xywh.dtype), xywh], 1).float()
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), target, str(self.paths[i])

    def _tile(self, i: int, rng: np.random.Generator, padded: bool) -> tuple[np.ndarray, np.ndarray]:
        """Image ``i`` before the shared augmentation, with its boxes in its pixels: a native-scale crop
        (``scale="native"``), else the image resized to long side ``imgsz`` (``padded``: letterboxed)."""
        if self.native:
            aug = self.augment
            return native_crop(self.frame(i), self.pixel_boxes(i), self.imgsz, aug.native_jitter,
                               aug.background_crops, rng)
        if padded:
            img, boxes, _ = self.letterboxed(i)
            return img, boxes
        return self.load(i), self.letterbox(i).boxes_to_resized(self.pixel_boxes(i))


class Targets(NamedTuple):
    """A batch's targets in the form the loss takes, padded to the most targets of any image: ``labels``
    (B, M) long classes, ``boxes`` (B, M, 4) x1, y1, x2, y2 in input pixels, ``mask`` (B, M) bool, True for real
    rows (M may be 0)."""

    labels: torch.Tensor
    boxes: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device) -> "Targets":
        return Targets(*(t.to(device, non_blocking=True) for t in self))


def pad_targets(targets: list[torch.Tensor], height: int, width: int) -> Targets:
    """Per-image ``(n, 5)`` class, cx, cy, w, h (normalised to the input) -> :class:`Targets` in input pixels."""
    # torchvision.ops imports torch._dynamo (about 2 s of every process start): only training needs it, so
    # inference and the command line import it never
    from torchvision.ops import box_convert

    m = max((len(t) for t in targets), default=0)
    labels = torch.zeros(len(targets), m, dtype=torch.long)
    boxes = torch.zeros(len(targets), m, 4)
    mask = torch.zeros(len(targets), m, dtype=torch.bool)
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    for i, t in enumerate(targets):
        labels[i, :len(t)] = t[:, 0].long()
        boxes[i, :len(t)] = box_convert(t[:, 1:5] * scale, "cxcywh", "xyxy")
        mask[i, :len(t)] = True
    return Targets(labels, boxes, mask)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, str]]) -> tuple[torch.Tensor, Targets, list[str]]:
    """Images ``(B, C, S, S)`` uint8, their :class:`Targets`, and their paths."""
    images, targets, paths = zip(*batch)
    images = torch.stack(images)
    return images, pad_targets(list(targets), *images.shape[-2:]), list(paths)


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` keys: a loader's workers can stay alive across epochs (persistent workers)
    and still produce samples that depend only on (seed, epoch, index). Shuffled order: a permutation drawn from
    ``seed + epoch`` alone (the one ``DataLoader(shuffle=True, generator=Generator().manual_seed(seed + epoch))``
    draws). Under DDP each of ``world`` processes takes every ``world``-th key of the permutation, padded by
    wrapping around so all take the same number, as ``DistributedSampler`` does. ``subset(epoch)``: the indices
    an epoch draws from (always as many), else all ``n``."""

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world: int = 1,
                 subset: Callable[[int], list[int]] | None = None):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.subset, self.epoch = subset, 0
        self.size = len(subset(0)) if subset is not None else n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        """This process's indices for the current epoch."""
        pool = self.subset(self.epoch) if self.subset is not None else range(self.n)
        if not self.shuffle:
            idx = list(pool)
        else:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            torch.empty((), dtype=torch.int64).random_(generator=g)  # the draw DataLoader makes for its base seed
            idx = [pool[j] for j in torch.randperm(self.size, generator=g).tolist()]
        if self.world > 1:
            total = len(self) * self.world
            idx = (idx * math.ceil(total / max(len(idx), 1)))[:total][self.rank::self.world]
        return idx

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.order()])

    def __len__(self) -> int:
        return math.ceil(self.size / self.world)


def build_dataloader(dataset: IRSTDDataset | Dataset, batch_size: int, workers: int, shuffle: bool, seed: int = 0,
                     rank: int = 0, world: int = 1, persistent: bool = False, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over :class:`EpochSampler` keys (call ``loader.sampler.set_epoch(e)`` before each epoch), each
    epoch over the dataset's :meth:`~IRSTDDataset.epoch_indices` (every image without a background ratio).
    ``persistent``: workers stay alive across epochs. OpenCV's own thread pool is capped to one thread in this
    (the parent) process when there are workers, before they fork: each worker then decodes on one core and
    the workers share the CPUs (changing it inside a forked worker waits forever on the parent's pool)."""
    if workers > 0:
        cv2.setNumThreads(1)
    subset = dataset.epoch_indices if dataset.epoch_indices(0) is not None else None
    sampler = EpochSampler(len(dataset), shuffle, seed, rank, world, subset)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                      num_workers=workers, collate_fn=collate, pin_memory=pin_memory, drop_last=False,
                      persistent_workers=persistent and workers > 0)


class Frames(Dataset):
    """The whole frames of a dataset, in order (what validation cuts its views from)."""

    def __init__(self, dataset: IRSTDDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.dataset.frame(i)


def build_frame_loader(dataset: IRSTDDataset, frames: int, workers: int, persistent: bool = False) -> DataLoader:
    """Lists of ``frames`` whole frames ``(H, W, C)``, in order, decoded by ``workers`` processes."""
    if workers > 0:
        cv2.setNumThreads(1)  # as build_dataloader: before the workers fork
    return DataLoader(Frames(dataset), batch_size=frames, shuffle=False, num_workers=workers, collate_fn=list,
                      persistent_workers=persistent and workers > 0)


def label_stats(dataset: IRSTDDataset) -> tuple[np.ndarray, np.ndarray]:
    """All targets' (width, height) in original pixels and normalised (cx, cy), for :func:`plot_label_stats`."""
    sizes = [lab[:, 3:5] * (w, h) for lab, (h, w) in zip(dataset.labels, dataset.shapes)]
    centres = [lab[:, 1:3] for lab in dataset.labels]
    return np.concatenate(sizes).reshape(-1, 2), np.concatenate(centres).reshape(-1, 2)


def original_targets(dataset: IRSTDDataset) -> list[np.ndarray]:
    """Per image ``(m, 5)`` class, x1, y1, x2, y2 in original-image pixels (from the label files, not resampled)."""
    return [np.concatenate([lab[:, :1].astype(np.float64), dataset.pixel_boxes(i)], 1)
            for i, lab in enumerate(dataset.labels)]
