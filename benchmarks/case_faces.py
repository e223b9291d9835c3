"""What the case-score benchmarks share: every photo's main face embedded from the aligned crop and from
that crop mirrored (cached, so a second run takes seconds), the m-reference cases built over the photos,
the scores of photos against them, and the paired difference of two ways to decide.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from configs.faces import PipelineSettings
from models.packs import ModelPack
from pipeline.decode import read_image_file
from pipeline.engine import FaceEngine
from pipeline.errors import ImageError
from pipeline.match import l2_normalize
from pipeline.quality import main_face
from pipeline.types import AlignedFaces, Detections

logger = logging.getLogger(__name__)

FARS = (1e-3, 1e-4, 1e-5)
CACHE_VERSION = "case-scores-1"


@dataclass(frozen=True)
class MainFaces:
    """Each photo's main face, embedded from the aligned crop and from that crop mirrored.

    found: (N,) bool; plain, mirrored: (N, D) unit vectors, zero where no face was found;
    seconds: (decode + detect + align, embed plain, embed mirrored).
    """

    found: NDArray[np.bool_]
    plain: NDArray[np.float32]
    mirrored: NDArray[np.float32]
    seconds: tuple[float, float, float]

    def flipped(self) -> NDArray[np.float32]:
        """(N, D) the normalised sum of the plain and mirrored embeddings (zero where no face)."""
        return l2_normalize(self.plain + self.mirrored)


@dataclass(frozen=True)
class Cases:
    """C cases of m references each, over the photos with a face.

    labels: (C,) identity; references: (C, m) photo indices; own: (N,) the case a photo is a genuine
    probe of, -1 when none (another identity's photo, a single, or a reference).
    """

    labels: NDArray[np.int64]
    references: NDArray[np.int64]
    own: NDArray[np.int64]


def plain_pack(pack: ModelPack) -> ModelPack:
    """``pack`` with its embedder unmirrored: these benchmarks add the mirror image themselves."""
    return replace(pack, embedder=replace(pack.embedder, mirrored=False))


def embed_main_faces(
    engine: FaceEngine, pack: ModelPack, paths: Sequence[Path], cache: Path, limits: PipelineSettings
) -> MainFaces:
    """Every photo's main face, plain and mirrored, read from ``cache`` when measured before.

    ``engine`` must embed plainly (load it from ``plain_pack(pack)``).
    """
    if pack.embedder.mirrored:
        raise ValueError(f"{pack.name}: load the engine from plain_pack(pack); this adds the mirror image itself")
    file = cache / f"{pack.name}-{_cache_key(pack, engine, paths)}.npz"
    if file.is_file():
        with np.load(file) as saved:
            seconds = tuple(float(s) for s in saved["seconds"])
            return MainFaces(saved["found"], saved["plain"], saved["mirrored"], (seconds[0], seconds[1], seconds[2]))
    found, crops, located = _locate_main_faces(engine, paths, limits)
    plain, plain_seconds = _embed_timed(engine, crops)
    mirrored, mirrored_seconds = _embed_timed(engine, np.ascontiguousarray(crops[:, :, ::-1]))
    faces = MainFaces(
        found, _scatter(plain, found), _scatter(mirrored, found), (located, plain_seconds, mirrored_seconds)
    )
    file.parent.mkdir(parents=True, exist_ok=True)
    draft = file.with_suffix(".partial.npz")
    np.savez(draft, found=faces.found, plain=faces.plain, mirrored=faces.mirrored, seconds=np.array(faces.seconds))
    draft.replace(file)
    return faces


def _locate_main_faces(
    engine: FaceEngine, paths: Sequence[Path], limits: PipelineSettings, step: int = 64
) -> tuple[NDArray[np.bool_], NDArray[np.uint8], float]:
    """(N,) which photos have a main face, their aligned crops (K, S, S, 3), and the seconds it took."""
    started = time.perf_counter()
    found = np.zeros(len(paths), dtype=bool)
    crops = []

    def decode(path: Path) -> NDArray[np.uint8] | None:
        try:
            return read_image_file(path, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels).pixels
        except (ImageError, OSError):
            return None

    with ThreadPoolExecutor(max_workers=limits.decode_workers) as pool:
        for start in range(0, len(paths), step):
            decoded = list(pool.map(decode, paths[start : start + step]))
            readable = [n for n, image in enumerate(decoded) if image is not None]
            images = [image for image in decoded if image is not None]
            located = engine.locator.locate(images)
            for k, face in _main_indices(located.detections, images):
                found[start + readable[k]] = True
                crops.append(located.aligned.crops[face])
            logger.info("located %d/%d photos", min(start + step, len(paths)), len(paths))
    return found, np.stack(crops), time.perf_counter() - started


def _main_indices(detections: Detections, images: Sequence[NDArray[np.uint8]]) -> Iterator[tuple[int, int]]:
    """(image, face index) for each image whose main face stands out (margin 1, as `sura eval`)."""
    bounds = np.concatenate([[0], np.cumsum(detections.counts())]).astype(int)
    for k, image in enumerate(images):
        start, stop = bounds[k], bounds[k + 1]
        index = main_face(detections.boxes[start:stop], int(image.shape[1]), int(image.shape[0]))
        if index is not None:
            yield k, int(start + index)


def _embed_timed(engine: FaceEngine, crops: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
    started = time.perf_counter()
    vectors = engine.embed(AlignedFaces(crops, np.arange(len(crops), dtype=np.int64)))
    return vectors, time.perf_counter() - started


def _scatter(vectors: NDArray[np.float32], found: NDArray[np.bool_]) -> NDArray[np.float32]:
    full = np.zeros((len(found), vectors.shape[1]), dtype=np.float32)
    full[found] = vectors
    return full


def _cache_key(pack: ModelPack, engine: FaceEngine, paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for part in (CACHE_VERSION, pack.name, pack.detector.file.sha256, pack.embedder.file.sha256, engine.options):
        digest.update(f"{part}\n".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def describe_speed(faces: MainFaces) -> str:
    """One line: photos, main faces, and the seconds and throughput of each stage, with and without the flip."""
    located, plain, mirrored = faces.seconds
    photos, found = len(faces.found), int(faces.found.sum())
    return (
        f"{photos} photos, {found} main faces. Decode+detect+align {located:.0f} s; embed plain {plain:.0f} s "
        f"({found / plain:.0f} faces/s), mirrored {mirrored:.0f} s. End to end: {photos / (located + plain):.1f} "
        f"photos/s without the flip, {photos / (located + plain + mirrored):.1f} photos/s with it."
    )


def build_cases(labels: NDArray[np.int64], single: NDArray[np.bool_], m: int, seed: int) -> Cases:
    """A case of ``m`` references for each identity with at least max(3, m + 1) photos; the same seed
    shuffles each identity the same way for every m, so the references of m = 1 ⊂ 2 ⊂ 3.

    Not `pipeline.evaluate.centroid_scores`: that draws each identity's own permutation, so its references
    for m and m + 1 are not nested, and it keeps no (photo, case) matrix for rank-1 or held-out halves.
    """
    keys = np.random.default_rng(seed).random(len(labels))
    order = np.lexsort((keys, labels))
    groups = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    own = np.full(len(labels), -1, dtype=np.int64)
    case_labels: list[int] = []
    references: list[NDArray[np.int64]] = []
    for photos in groups:
        if single[photos[0]] or len(photos) < max(3, m + 1):
            continue
        own[photos[m:]] = len(case_labels)
        case_labels.append(int(labels[photos[0]]))
        references.append(photos[:m])
    return Cases(np.array(case_labels, dtype=np.int64), np.array(references, dtype=np.int64).reshape(-1, m), own)


def aggregate_scores(embeddings: NDArray[np.float32], cases: Cases, aggregate: str) -> NDArray[np.float32]:
    """(N, C) each photo's score against each case, by ``aggregate`` (max, top2 or centroid)."""
    references = embeddings[cases.references]  # (C, m, D)
    if aggregate == "centroid":
        return embeddings @ l2_normalize(references.sum(axis=1)).T
    count, m = cases.references.shape
    similarity = (embeddings @ references.reshape(count * m, -1).T).reshape(len(embeddings), count, m)
    if aggregate == "max":
        return similarity.max(axis=2)
    return np.sort(similarity, axis=2)[:, :, -2:].mean(axis=2)


def paired_difference(seeds: Sequence[tuple[NDArray[np.bool_], NDArray[np.bool_]]]) -> str:
    """Mean over seeds of A − B in TAR points, from each seed's (P,) accepted genuine probes of A and of B,
    with twice one seed's standard error (from the probes accepted by one side only) and the range."""
    deltas, sigmas = [], []
    for a, b in seeds:
        only_a, only_b = a & ~b, b & ~a
        deltas.append(100 * (only_a.sum() - only_b.sum()) / len(a))
        sigmas.append(100 * np.sqrt(only_a.sum() + only_b.sum()) / len(a))
    return f" {np.mean(deltas):+6.2f} ±{2 * np.mean(sigmas):4.2f} [{min(deltas):+5.2f},{max(deltas):+5.2f}]"
