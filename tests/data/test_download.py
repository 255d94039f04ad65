"""Datasets that fetch themselves (fscfnet.data.prepare.download): a local HTTP server with Range support serves a tiny
fake dataset archive; download + prepare, resuming an interrupted download, refusing a bad archive, offline."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from fscfnet.cfg.data import load_data_config
from fscfnet.data import IRSTDDataset, open_dataset, read_yolo_labels
from fscfnet.data.prepare import main as prepare_main
from fscfnet.data.prepare.download import FetchError, download_dataset, fetch, verify_sha256
from fscfnet.errors import DatasetError, UserError

STEMS = [f"f{i}" for i in range(5)]
SPLITS = {"train": STEMS[:3], "test": STEMS[3:]}
MANUAL = "https://example.org/FAKE"


class Served:
    """What the test server serves and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.types: dict[str, str] = {}
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the connection is dropped (once)
        self.gone_after_drop = False  # the dropped file is then gone (404), as when the network goes away
        self.ignore_range = False
        self.chunked = False  # bodies in chunked transfer encoding, without Content-Length (as GitHub sends zips)
        self.wrong_range_once = False  # answer the next Range request with bytes from 0 under a 206
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.base = ""

    def add(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[path], self.types[path] = body, content_type
        return self.base + path


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """GET with ``Range: bytes=N-`` support (206 / 416), and a connection dropped mid-body on request."""

        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = int(m.group(1)) if (m := re.fullmatch(r"bytes=(\d+)-", rng or "")) and not state.ignore_range else 0
            if start and state.wrong_range_once:
                state.wrong_range_once = False
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if start >= len(body) > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Type", state.types[self.path])
            cut = state.drop_after.pop(self.path, None)
            data = body[start:] if cut is None else body[start:start + cut]
            if state.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(data), 4096):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data[i:i + 4096]), data[i:i + 4096]))
                if cut is None:
                    self.wfile.write(b"0\r\n\r\n")  # a dropped connection never sends the last chunk
            else:
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(data)
            self.close_connection = cut is not None
            if cut is not None and state.gone_after_drop:
                state.files.pop(self.path)

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (a refused web page, a dropped transfer) is expected here


@pytest.fixture
def server():
    state = Served()
    httpd = QuietServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def datasets(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "datasets"
    monkeypatch.setenv("FSCFNET_DATASETS", str(root))
    return root


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def _fake_dataset(prefix: str, with_splits: bool = True) -> dict[str, bytes]:
    """A tiny dataset in the BasicIRSTD layout ({member name: bytes}): one 3x3 target per 32x32 frame, and a
    filler so that the archive is large enough to be cut short."""
    files = {}
    for i, stem in enumerate(STEMS):
        img, mask = np.full((32, 32), 20, np.uint8), np.zeros((32, 32), np.uint8)
        img[4 + 4 * i:7 + 4 * i, 10:13], mask[4 + 4 * i:7 + 4 * i, 10:13] = 200, 255
        files[f"{prefix}images/{stem}.png"], files[f"{prefix}masks/{stem}.png"] = _png(img), _png(mask)
    if with_splits:
        for split, stems in SPLITS.items():
            files[f"{prefix}img_idx/{split}_FAKE.txt"] = "".join(s + "\n" for s in stems).encode()
    files[f"{prefix}README.bin"] = np.random.default_rng(0).bytes(20_000)
    return files


def _archive(files: dict[str, bytes], kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _yaml(tmp_path: Path, urls: list[str], extra: str = "images: 5\n    masks: 5\n") -> Path:
    cfg = tmp_path / "FAKE.yaml"
    cfg.write_text("path: FAKE\ntrain: img_idx/train_FAKE.txt\ntest: img_idx/test_FAKE.txt\nnames: [target]\n"
                   f"download:\n    urls: [{', '.join(urls)}]\n    manual: [{MANUAL}]\n    {extra}")
    return cfg


def _served_archive(server: Served, kind: str = "zip") -> tuple[str, bytes]:
    body = _archive(_fake_dataset("fake-master/"), kind)
    return server.add(f"/fake.{kind}", body), body


def _assert_readable(cfg_path: Path, datasets: Path) -> None:
    cfg = open_dataset(cfg_path)
    assert cfg.root == datasets / "FAKE"
    assert len(IRSTDDataset(cfg, "train", 32, log=lambda s: None)) == 3
    for stem in STEMS:
        assert len(read_yolo_labels(cfg.root / "labels" / f"{stem}.txt", 1)) == 1
    assert sorted(p.name for p in datasets.iterdir()) == ["FAKE"]  # no archive, .part or temporary folder left


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_download_and_prepare_gives_a_readable_dataset(server, datasets, tmp_path, kind):
    """zip: a bundle of two datasets with a sha256; tar.gz: one without split files, which download: files adds."""
    if kind == "zip":
        body = _archive({**_fake_dataset("bundle/FAKE/"), **_fake_dataset("bundle/OTHER/")}, kind)
        url = server.add("/bundle.zip", body)
        cfg = _yaml(tmp_path, [url], f"folder: fake\n    sha256: {hashlib.sha256(body).hexdigest()}\n")
    else:
        url = server.add("/fake.tar.gz", _archive(_fake_dataset("fake-1.0/", with_splits=False), kind))
        lists = {s: server.add(f"/{s}.txt", "".join(x + "\n" for x in stems).encode(), "text/plain")
                 for s, stems in SPLITS.items()}
        cfg = _yaml(tmp_path, [url], "images: 5\n    masks: 5\n    files:\n"
                    + "".join(f"      img_idx/{s}_FAKE.txt: {u}\n" for s, u in lists.items()))
    assert prepare_main(["--download", str(cfg)]) == 0
    _assert_readable(cfg, datasets)
    assert (datasets / "FAKE" / "img_idx" / "test_FAKE.txt").read_text().split() == SPLITS["test"]


def test_a_chunked_download_cut_short_is_kept_and_resumed_by_the_next_run(server, tmp_path):
    """A server that sends the archive chunked (no Content-Length) and drops the connection: once the transfer
    counted as complete and the truncated file was renamed, refused and deleted. Now the .part stays, the error
    says the transfer was interrupted, and the next run asks for the rest and completes it."""
    url, body = _served_archive(server)
    server.chunked = True
    server.drop_after["/fake.zip"] = 8192
    with pytest.raises(FetchError, match=r"the transfer was interrupted before the end \(kept 8192 bytes in "
                                         r".*fake\.zip\.part; run again to resume\)"):
        fetch(url, tmp_path / "fake.zip", attempts=1)
    assert not (tmp_path / "fake.zip").exists() and (tmp_path / "fake.zip.part").stat().st_size == 8192
    assert fetch(url, tmp_path / "fake.zip").read_bytes() == body
    assert server.requests[-1] == ("/fake.zip", "bytes=8192-")


def test_a_resumed_request_answered_with_other_bytes_starts_over(server, tmp_path):
    """The server answers the request for the rest with the file from byte 0 (under a 206): the part is removed
    and the same run fetches the whole file again."""
    url, body = _served_archive(server)
    server.drop_after["/fake.zip"], server.wrong_range_once = 5000, True
    assert fetch(url, tmp_path / "fake.zip").read_bytes() == body
    assert server.requests == [("/fake.zip", None), ("/fake.zip", "bytes=5000-"), ("/fake.zip", None)]


def test_interrupted_download_is_resumed_with_range(server, datasets, tmp_path):
    url, body = _served_archive(server)
    server.drop_after["/fake.zip"] = 5000  # the first connection breaks off after 5000 bytes
    target = fetch(url, tmp_path / "fake.zip")
    assert target.read_bytes() == body and not (tmp_path / "fake.zip.part").exists()
    assert server.requests == [("/fake.zip", None), ("/fake.zip", "bytes=5000-")]
    # a run that loses the server mid-transfer keeps only its partial download; the next run resumes it
    server.drop_after["/fake.zip"], server.gone_after_drop = 3000, True
    cfg = _yaml(tmp_path, [url])
    with pytest.raises(UserError, match=r"HTTP 404 Not Found \(kept 3000 bytes in .*\.part; run again to resume\)"):
        download_dataset(cfg, log=lambda s: None)
    (part,) = datasets.iterdir()
    assert part.name.startswith(".FAKE.") and part.name.endswith(".download.part") and part.stat().st_size == 3000
    server.add("/fake.zip", body)
    download_dataset(cfg, log=lambda s: None)
    assert server.requests[-1] == ("/fake.zip", "bytes=3000-")
    _assert_readable(cfg, datasets)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    url, body = _served_archive(server)
    server.ignore_range = True
    (tmp_path / "fake.zip.part").write_bytes(b"stale bytes of something else")
    assert fetch(url, tmp_path / "fake.zip").read_bytes() == body
    assert server.requests == [("/fake.zip", "bytes=29-")]  # asked to resume, got the whole file, started over


@pytest.mark.parametrize("fault,message", [
    ("sha256", r"sha256 [0-9a-f]{64} does not match the expected (ab){32}; the download was removed"),
    ("structure", r"holds 5 images where FAKE has 6; it is not the expected archive"),
    ("not an archive", r"the download is not a zip or tar archive"),
])
def test_bad_download_is_refused_and_leaves_nothing(server, datasets, tmp_path, fault, message):
    url, body = _served_archive(server)
    if fault == "not an archive":
        url = server.add("/fake.zip", body[:100] + b"garbage")
    extra = {"sha256": f"sha256: {'ab' * 32}\n", "structure": "images: 6\n"}.get(fault, "images: 5\n")
    with pytest.raises(DatasetError, match=message) as e:
        download_dataset(_yaml(tmp_path, [url], extra), log=lambda s: None)
    assert "\n" not in str(e.value)
    assert list(datasets.iterdir()) == []  # neither the bad archive, nor a .part, a temporary folder or FAKE/
    if fault == "sha256":  # the check removes the file itself, whoever calls it
        (tmp_path / "a.zip").write_bytes(body)
        with pytest.raises(DatasetError, match="the download was removed"):
            verify_sha256(tmp_path / "a.zip", "ab" * 32, url)
        assert not (tmp_path / "a.zip").exists()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/fake.zip"


@pytest.mark.parametrize("case,reason", [("offline", "refused"), ("dead link", "HTTP 404"),
                                         ("web page", "sent a web page, not the file")])
def test_unreachable_source_names_the_url_and_the_manual_route(server, datasets, tmp_path, capsys, case, reason):
    url = {"offline": _closed_port_url(), "dead link": server.base + "/gone.zip",
           "web page": server.add("/login", b"<html>sign in</html>", "text/html")}[case]
    cfg = _yaml(tmp_path, [url])
    with pytest.raises(UserError) as e:
        download_dataset(cfg, log=lambda s: None)
    text = str(e.value)
    assert "\n" not in text and f"cannot download FAKE ({url}: " in text and reason in text
    assert text.endswith(f"download it yourself ({MANUAL}) and run: fscfnet prepare SRC --dst {datasets / 'FAKE'}")
    assert not datasets.exists() or list(datasets.iterdir()) == []
    assert prepare_main(["--download", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: cannot download FAKE") and MANUAL in err


def test_missing_dataset_says_how_to_download_it_and_downloads_nothing(datasets, tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist; download and prepare it with: "
                                           r"fscfnet prepare --download NUAA-SIRST \(or from a copy"):
        open_dataset("NUAA-SIRST")
    cfg = _yaml(tmp_path, ["http://127.0.0.1:9/fake.zip"])
    with pytest.raises(DatasetError, match=f"fscfnet prepare --download {re.escape(str(cfg))} "):
        open_dataset(cfg)
    assert not datasets.exists()
    shipped = {n: load_data_config(n, require_root=False).download for n in ("NUAA-SIRST", "NUDT-SIRST", "IRSTD-1K")}
    assert {n: (d.images, d.masks) for n, d in shipped.items()} == {
        "NUAA-SIRST": (427, 427), "NUDT-SIRST": (1327, 1327), "IRSTD-1K": (1001, 1001)}
    assert all(u.startswith("https://") for d in shipped.values() for u in d.urls + list(d.files.values()))


@pytest.mark.parametrize("extra,message", [
    ("imgaes: 5\n", r"FAKE\.yaml: download: unknown key 'imgaes'; did you mean 'images'\?"),
    ("masks: 5\n", r"give 'sha256' or the expected 'images' count"),
    ("images: 5\n    sha256: abc\n", r"sha256 must be 64 lowercase hex digits"),
])
def test_download_section_is_checked(tmp_path, extra, message):
    with pytest.raises(UserError, match=message):
        load_data_config(_yaml(tmp_path, ["https://example.org/a.zip"], extra), require_root=False)
    with pytest.raises(UserError, match="must be http:// or https:// URLs"):
        load_data_config(_yaml(tmp_path, ["ftp://example.org/a.zip"]), require_root=False)


def test_prepare_cli_needs_src_or_download(capsys):
    for argv in ([], ["some/folder", "--download", "NUAA-SIRST"], ["--download", "NUAA-SIRST", "--format", "voc"]):
        with pytest.raises(SystemExit) as e:
            prepare_main(argv)
        assert e.value.code == 2
    assert "--download" in capsys.readouterr().err
