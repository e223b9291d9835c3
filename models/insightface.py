"""InsightFace model packs: download from their release, verify, and describe as a ModelPack.

A download goes to a temporary file and folder inside the cache and is moved into place
only after both needed files match their pinned sha256, so an interrupted or tampered
download never leaves a pack that looks complete.
"""

from __future__ import annotations

import fcntl
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.errors import DownloadError, ModelFileError
from models.packs import DetectorSpec, EmbedderSpec, ModelFile, ModelPack, Preprocess
from pipeline.calibration import Calibration

logger = logging.getLogger(__name__)

RELEASE_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7"
LICENCE = (
    "InsightFace pretrained packs are released for non-commercial research purposes only; "
    "check the terms with InsightFace before any other use"
)
# Not measured by SuraSmart (the packs cannot be fetched where it is developed): typical
# ArcFace operating points. Calibrate on your own labelled photos with `sura eval`.
PROVISIONAL = Calibration(
    points=((1e-2, 0.20), (1e-3, 0.28), (1e-4, 0.36)),
    source="provisional ArcFace operating points, not calibrated by SuraSmart",
)


@dataclass(frozen=True)
class RemotePack:
    """One release zip and the pinned sha256 of the two files SuraSmart uses from it."""

    name: str
    detector: str
    detector_sha256: str
    embedder: str
    embedder_sha256: str
    embedding_size: int = 512

    def files(self, folder: Path) -> tuple[ModelFile, ModelFile]:
        return (
            ModelFile(folder / self.detector, self.detector_sha256),
            ModelFile(folder / self.embedder, self.embedder_sha256),
        )


REMOTE_PACKS = {
    pack.name: pack
    for pack in (
        RemotePack(
            "buffalo_l",
            "det_10g.onnx",
            "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
            "w600k_r50.onnx",
            "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        ),
        RemotePack(
            "buffalo_s",
            "det_500m.onnx",
            "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
            "w600k_mbf.onnx",
            "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        ),
        RemotePack(
            "antelopev2",
            "scrfd_10g_bnkps.onnx",
            "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
            "glintr100.onnx",
            "4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf",
        ),
    )
}


def insightface_pack(remote: RemotePack, folder: Path) -> ModelPack:
    """The ModelPack over a fetched pack folder."""
    detector, embedder = remote.files(folder)
    return ModelPack(
        name=remote.name,
        detector=DetectorSpec(kind="scrfd", file=detector, preprocess=Preprocess(127.5, 128.0)),
        embedder=EmbedderSpec(kind="arcface", file=embedder, embedding_size=remote.embedding_size, preprocess=None),
        calibration=PROVISIONAL,
        licence=LICENCE,
        research_only=True,
    )


def is_fetched(remote: RemotePack, folder: Path) -> bool:
    """True when both files are in ``folder`` with their pinned sha256."""
    try:
        for model_file in remote.files(folder):
            model_file.verified()
    except ModelFileError:
        return False
    return True


def fetch_pack(remote: RemotePack, *, cache_dir: Path, base_url: str = RELEASE_URL, timeout: float = 60.0) -> Path:
    """The folder holding ``remote``'s verified files, downloading the release zip if needed."""
    target = cache_dir / remote.name
    if is_fetched(remote, target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / f".{remote.name}.lock"):
        if is_fetched(remote, target):
            return target
        url = f"{base_url.rstrip('/')}/{remote.name}.zip"
        logger.warning("downloading model pack %s from %s (%s)", remote.name, url, LICENCE)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{remote.name}-") as work:
            archive = Path(work) / "pack.zip"
            _download(url, archive, timeout)
            staging = Path(work) / remote.name
            _extract(archive, staging, remote)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
    logger.info("model pack %s ready in %s", remote.name, target)
    return target


def _download(url: str, destination: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "surasmart-model-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, destination.open("wb") as out:
            expected = int(response.headers.get("Content-Length") or -1)
            copied = 0
            for chunk in iter(lambda: response.read(2**20), b""):
                out.write(chunk)
                copied += len(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {url}: {reason}. Offline? Fetch the zip elsewhere, or set "
            "SURA_MODELS__DOWNLOAD_URL to a mirror"
        ) from exc
    if expected >= 0 and copied != expected:
        raise DownloadError(f"download of {url} stopped after {copied} of {expected} bytes")


def _extract(archive: Path, staging: Path, remote: RemotePack) -> None:
    """Copy the two needed members out by base name (never by archive path), then verify them."""
    staging.mkdir()
    wanted = {remote.detector, remote.embedder}
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                name = Path(member.filename).name
                if name in wanted and not member.is_dir():
                    with bundle.open(member) as source, (staging / name).open("wb") as out:
                        shutil.copyfileobj(source, out, 2**20)
                    wanted.discard(name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(f"the {remote.name} archive is not a readable zip: {exc}") from exc
    if wanted:
        raise DownloadError(f"the {remote.name} archive lacks {', '.join(sorted(wanted))}")
    for model_file in remote.files(staging):
        try:
            model_file.verified()
        except ModelFileError as exc:
            raise DownloadError(f"refusing the {remote.name} download: {exc}") from exc


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
