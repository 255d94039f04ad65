"""Datasets that fetch themselves: ``fscfnet prepare --download NAME`` downloads the archive that the dataset
config's ``download:`` section names, verifies it (its sha256, else the image and mask counts once unpacked),
unpacks it into a temporary folder beside the destination and runs :func:`fscfnet.data.prepare.run.prepare` into
``datasets/NAME``. Nothing is downloaded unasked: a reader that finds the folder missing says to run this.

Only the standard library touches the network (urllib). A partial download is kept beside the destination as
``.NAME.<hash>.download.part`` and resumed with an HTTP Range request (within a run, and by the next run); the
destination is only ever renamed into place, complete, by ``prepare``. A download that proves bad (checksum,
structure, not an archive) is removed; when no URL answers, the error names them and the manual route."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import http.client
import lzma
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ...cfg.data import DataConfig, load_data_config
from ...errors import DatasetError, UserError
from ...utils.files import temp_dir_beside
from ..images import image_files
from .run import LABEL_FORMATS, prepare
from .splits import first_dir

CHUNK = 1 << 16
TIMEOUT_S = 30.0
ATTEMPTS = 5  # connections per URL, as long as each one brings bytes
IMAGE_DIRS = ("IRSTD1k_Img", "images", "JPEGImages")  # a dataset folder holds one of these ...
MASK_DIRS = ("IRSTD1k_Label", "masks")  # ... and, for masks, one of these
NETWORK_ERRORS = (OSError, http.client.HTTPException)  # urllib.error.URLError and socket timeouts are OSErrors
ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, gzip.BadGzipFile, lzma.LZMAError, zlib.error)


class FetchError(Exception):
    """One URL did not deliver its file: offline, a dead link, a web page instead of the file, cut short."""


class StartOver(Exception):
    """The server answered a resumed request with other bytes: the partial download was removed, fetch anew."""


def download_dataset(data: str | Path | DataConfig, dst: Path | None = None, overwrite: bool = False,
                     log: Callable[[str], None] = print, background: Path | None = None) -> dict:
    """Download, verify, unpack and prepare dataset ``data`` (a shipped name, a YAML path or a config with a
    ``download:`` section) into ``dst`` (default: its folder), with ``background`` frames as :func:`prepare`
    takes them; returns :func:`prepare`'s summary."""
    cfg = data if isinstance(data, DataConfig) else load_data_config(data, require_root=False)
    dst = Path(dst or cfg.root).expanduser().resolve()
    if cfg.download is None:
        raise UserError(f"{cfg.source or cfg.path}: no download: section says where {cfg.name} comes from; "
                        f"prepare it from a copy you have: fscfnet prepare SRC --dst {dst}")
    if cfg.download.format not in LABEL_FORMATS:
        raise UserError(f"{cfg.source}: download: format {cfg.download.format!r} is not one of "
                        f"{', '.join(LABEL_FORMATS)}")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise UserError(f"{dst}: already exists and is not empty; pass --overwrite to replace it")
    archive, url = fetch_archive(cfg, dst, log)
    try:
        verify_sha256(archive, cfg.download.sha256, url)
        summary = unpack_and_prepare(archive, cfg, dst, overwrite, log, background)
    except DatasetError:
        archive.unlink(missing_ok=True)  # a bad download is not kept
        raise
    archive.unlink(missing_ok=True)
    return summary


def manual_route(cfg: DataConfig, dst: Path) -> str:
    """What to do by hand when the download cannot be made here."""
    pages = ", ".join(cfg.download.manual or cfg.download.urls) if cfg.download else "its upstream page"
    return f"download it yourself ({pages}) and run: fscfnet prepare SRC --dst {dst}"


def fetch_archive(cfg: DataConfig, dst: Path, log: Callable[[str], None]) -> tuple[Path, str]:
    """The dataset's archive, complete, beside ``dst``: the first of its URLs that delivers; with the URL."""
    failures = []
    for url in cfg.download.urls:
        target = dst.parent / f".{dst.name}.{hashlib.sha1(url.encode()).hexdigest()[:12]}.download"
        log(f"downloading {cfg.name} from {url}")
        try:
            return fetch(url, target, desc=cfg.name), url
        except FetchError as e:
            failures.append(f"{url}: {e}")
            log(f"  failed: {e}")
    raise UserError(f"cannot download {cfg.name} ({'; '.join(failures)}); {manual_route(cfg, dst)}")


def fetch(url: str, target: Path, desc: str = "", attempts: int = ATTEMPTS, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming a partial download (an earlier run's, or
    this run's when the connection drops) with an HTTP Range request. ``target`` appears only when complete."""
    if target.is_file():
        return target  # completed by an earlier run; verified by the caller
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        try:
            complete, received = _fetch_once(url, part, timeout, desc)
        except StartOver:
            continue  # the next attempt asks for the whole file
        except FetchError as e:
            raise FetchError(f"{e}{_kept(part)}") from None
        if complete:
            part.replace(target)
            return target
        if not received:
            break
    raise FetchError(f"the transfer was interrupted before the end{_kept(part)}")


def _kept(part: Path) -> str:
    size = part.stat().st_size if part.is_file() else 0
    return f" (kept {size} bytes in {part}; run again to resume)" if size else ""


def _fetch_once(url: str, part: Path, timeout: float, desc: str) -> tuple[bool, int]:
    """One connection: request what ``part`` lacks, append it; returns (complete, bytes received)."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "fscfnet", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            return True, 0  # nothing left to send: the part is whole (the checks after it will tell)
        raise FetchError(f"HTTP {e.code} {e.reason}") from None
    except NETWORK_ERRORS as e:
        raise FetchError(_reason(e)) from None
    with resp:
        if resp.headers.get_content_type() == "text/html":
            raise FetchError("the server sent a web page, not the file (the link may need a browser)")
        return _stream(resp, part, _resume_offset(resp, offset, part), desc)


def _resume_offset(resp: http.client.HTTPResponse, offset: int, part: Path) -> int:
    """Where the response's bytes go in ``part``: ``offset`` when the server honoured the Range request, 0 when it
    sent the whole file instead."""
    if not offset or resp.status != 206:
        return 0
    start = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    if start is None or int(start.group(1)) != offset:
        part.unlink(missing_ok=True)  # the bytes kept cannot be matched to what the server sends now
        raise StartOver(f"the server answered a request for bytes {offset}- with other bytes")
    return offset


def _stream(resp: http.client.HTTPResponse, part: Path, start: int, desc: str) -> tuple[bool, int]:
    """Write the response body to ``part`` from byte ``start`` with a progress bar; a dropped connection keeps
    what arrived. Complete when the body ended cleanly and reached its Content-Length, where there is one (a
    chunked body cut short raises IncompleteRead: not complete, whatever its length)."""
    length = resp.length  # bytes to come, per Content-Length (None when the server does not say)
    total = None if length is None else start + length
    received, ended = 0, False
    with open(part, "ab" if start else "wb") as f, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                                        unit_divisor=1024, desc=desc, disable=None) as bar:
        try:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            ended = True
        except http.client.IncompleteRead as e:  # a chunked read cut short carries what did arrive
            f.write(e.partial)
            received += len(e.partial)
        except NETWORK_ERRORS:
            pass  # cut short: resumed by the next attempt
    return ended and (length is None or received >= length), received


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return (str(reason).splitlines() or [type(e).__name__])[0] or type(e).__name__


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str | None, url: str) -> None:
    """Refuse (and remove) a download whose sha256 is not ``expected``; nothing to do without one."""
    if expected is None:
        return
    got = sha256_of(path)
    if got != expected:
        path.unlink(missing_ok=True)
        raise DatasetError(f"{url}: sha256 {got} does not match the expected {expected}; the download was removed")


def unpack_and_prepare(archive: Path, cfg: DataConfig, dst: Path, overwrite: bool,
                       log: Callable[[str], None], background: Path | None = None) -> dict:
    """Unpack ``archive`` into a temporary folder beside ``dst``, find the dataset folder in it, add the files the
    config names, check its structure and prepare it into ``dst``; the temporary folder is always removed."""
    tmp = temp_dir_beside(dst)
    try:
        unpack(archive, tmp)
        src = find_dataset_folder(tmp, cfg.download.folder)
        add_files(src, cfg, dst)
        check_structure(src, cfg)
        log(f"preparing {src.relative_to(tmp)} -> {dst}")
        return prepare(src, dst, cfg.download.format, overwrite, background)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(archive: Path, folder: Path) -> None:
    """Extract a zip or tar (.gz, .bz2, .xz) archive into ``folder``; members that would land outside it are
    refused."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(folder)  # zipfile drops absolute paths and ".." from member names
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                _extract_tar(t, folder)
        else:
            raise DatasetError(f"{archive.name}: the download is not a zip or tar archive")
    except ARCHIVE_ERRORS as e:
        raise DatasetError(f"{archive.name}: cannot unpack the download: {_reason(e)}") from None


def _extract_tar(t: tarfile.TarFile, folder: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
        t.extractall(folder, filter="data")
        return
    root = folder.resolve()
    for m in t.getmembers():
        target = (folder / m.name).resolve()
        if not target.is_relative_to(root) or m.issym() or m.islnk() or m.isdev():
            raise DatasetError(f"archive member {m.name!r} is a link, a device or lies outside the archive folder")
    t.extractall(folder)


def find_dataset_folder(root: Path, pattern: str | None) -> Path:
    """The one folder under ``root`` that holds images/ (or IRSTD1k_Img/, JPEGImages/); when there are several,
    the one whose name matches ``pattern`` (a glob, ignoring case)."""
    found = sorted(Path(d) for d, _, _ in os.walk(root)
                   if "__MACOSX" not in Path(d).parts and first_dir(Path(d), *IMAGE_DIRS) is not None)
    if len(found) > 1 and pattern:
        found = [d for d in found if fnmatch.fnmatch(d.name.lower(), pattern.lower())]
    if len(found) != 1:
        names = ", ".join(str(d.relative_to(root)) for d in found) or "none"
        wanted = f" named {pattern}" if pattern else ""
        raise DatasetError(f"the archive holds {len(found)} dataset folders{wanted} with images/ ({names}); "
                           f"expected one")
    return found[0]


def add_files(src: Path, cfg: DataConfig, dst: Path) -> None:
    """Download the files the config adds to the dataset folder (split lists the archive lacks); a file is
    skipped when the archive has it, or has the folder it would go in."""
    todo = {rel: url for rel, url in cfg.download.files.items()
            if not ((src / rel).exists() or ((src / rel).parent != src and (src / rel).parent.exists()))}
    for rel, url in todo.items():
        try:
            fetch(url, src / rel, desc=rel)
        except FetchError as e:
            raise UserError(f"cannot download {rel} of {cfg.name} ({url}: {e}); {manual_route(cfg, dst)}") from None


def check_structure(src: Path, cfg: DataConfig) -> None:
    """Refuse a dataset folder whose image or mask count is not the one the config expects."""
    d = cfg.download
    for kind, expected, names in (("images", d.images, IMAGE_DIRS), ("masks", d.masks, MASK_DIRS)):
        folder = first_dir(src, *names)
        n = len(image_files(folder)) if folder is not None else 0
        if expected is not None and n != expected:
            raise DatasetError(f"{src.name}: the download holds {n} {kind} where {cfg.name} has {expected}; "
                               f"it is not the expected archive")
