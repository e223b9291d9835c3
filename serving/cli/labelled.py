"""Every face of a set of labelled photos, as columns, optionally cached: what `sura eval`, `sura calibrate`
and the benchmarks measure on.

A cache file is named by the pack (its name and file hashes) and the photos (paths, sizes, times),
so a changed photo or model is analysed again; it records how long the first analysis took.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from numpy.typing import NDArray

from models.packs import ModelPack
from pipeline.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from pipeline.engine import FaceEngine
from pipeline.quality import main_face
from pipeline.stream import analyse_files
from serving.cli.progress import progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoFaces:
    """Every face of N photos (F faces in all), as columns.

    readable: (N,) bool; width, height: (N,) int64 (0 when unreadable); face_image: (F,) int64,
    ascending; boxes: (F, 4); scores, sharpness: (F,); embeddings: (F, D) unit vectors;
    seconds: how long analysing the photos took (when they were analysed, if cached).
    """

    readable: NDArray[np.bool_]
    width: NDArray[np.int64]
    height: NDArray[np.int64]
    face_image: NDArray[np.int64]
    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    sharpness: NDArray[np.float32]
    embeddings: NDArray[np.float32]
    seconds: float

    def __len__(self) -> int:
        return len(self.readable)

    @property
    def size(self) -> NDArray[np.float32]:
        """(F,) shorter box side in pixels, as the quality gate measures it."""
        sides = self.boxes[:, 2:] - self.boxes[:, :2]
        return np.minimum(sides[:, 0], sides[:, 1]).astype(np.float32)

    def counts(self) -> NDArray[np.int64]:
        """(N,) faces per photo."""
        return np.bincount(self.face_image, minlength=len(self)).astype(np.int64)

    def main_faces(self, margin: float = 1.0) -> NDArray[np.int64]:
        """(N,) each photo's main face (index into the face columns), -1 when none stands out by ``margin``."""
        bounds = np.concatenate([[0], np.cumsum(self.counts())])
        chosen = np.full(len(self), -1, dtype=np.int64)
        for n in range(len(self)):
            start, stop = int(bounds[n]), int(bounds[n + 1])
            index = main_face(self.boxes[start:stop], int(self.width[n]), int(self.height[n]), margin=margin)
            if index is not None:
                chosen[n] = start + index
        return chosen


@dataclass(frozen=True)
class LabelledSet:
    """Photos with identities: a folder's, then impostor-only photos, each of those its own identity.

    labels: (N,) int64; impostor: (N,) True for the impostor-only photos; gallery: (N,) the first
    photo of each identity of the folder, and every impostor photo (a distractor); left_out: (N,)
    photos a leave-out list names: analysed like the rest (the cache stays valid), never counted.
    """

    paths: list[Path]
    labels: NDArray[np.int64]
    impostor: NDArray[np.bool_]
    gallery: NDArray[np.bool_]
    identities: int
    left_out: NDArray[np.bool_]


ERRATA = Path(__file__).resolve().parents[2] / "configs" / "calibration" / "lfw_errata.txt"

leave_out_option = click.option(
    "--leave-out",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=ERRATA,
    show_default=True,
    help="Photos whose folder names the wrong person (identity/file a line), analysed but not counted.",
)


def read_leave_out(path: Path | None) -> frozenset[str]:
    """The ``identity/file`` names of a leave-out list (``#`` starts a comment)."""
    if path is None:
        return frozenset()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line)


def labelled_set(
    folder: Path | None, impostors: Path | None = None, leave_out: frozenset[str] = frozenset()
) -> LabelledSet:
    """The photos of ``folder`` (one sub-folder per identity) and of ``impostors`` (sub-folders or files);
    ``leave_out``: ``identity/file`` names whose label is wrong."""
    photos = identity_photos(folder) if folder else []
    singles = (
        []
        if impostors is None
        else [p for _, p in identity_photos(impostors)] + sorted(p for p in impostors.iterdir() if p.is_file())
    )
    names = [name for name, _ in photos]
    labels = np.concatenate(
        [np.unique(names, return_inverse=True)[1], len(set(names)) + np.arange(len(singles))]
    ).astype(np.int64)
    first = np.r_[True, labels[1:] != labels[:-1]] if len(labels) else np.zeros(0, bool)
    paths = [p for _, p in photos] + singles
    return LabelledSet(
        paths=paths,
        labels=labels,
        impostor=np.arange(len(labels)) >= len(photos),
        gallery=first.astype(bool),
        identities=len(set(names)),
        left_out=np.array([f"{p.parent.name}/{p.name}" in leave_out for p in paths], dtype=bool),
    )


def identity_photos(folder: Path) -> list[tuple[str, Path]]:
    """(identity, photo) for every file of every sub-folder of ``folder``, sorted."""
    return [
        (person.name, path)
        for person in sorted(folder.iterdir())
        if person.is_dir()
        for path in sorted(person.iterdir())
        if path.is_file()
    ]


def read_pairs(path: Path) -> list[tuple[bool, Path, Path]]:
    """(same person, photo, photo) of a tab-separated pair list with columns ``same``, ``img0``, ``img1``.

    Lines starting with ``#`` are comments; photo paths are relative to the list's folder.
    """
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    if not rows or not {"same", "img0", "img1"} <= set(rows[0]):
        raise ValueError(f"{path}: needs a header row with the columns same, img0 and img1")
    return [(row["same"].strip() == "1", path.parent / row["img0"], path.parent / row["img1"]) for row in rows]


def analyse_photos(
    engine: FaceEngine,
    pack: ModelPack,
    paths: Sequence[Path],
    *,
    cache_dir: Path | None = None,
    workers: int = 2,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PhotoFaces:
    """Every face of ``paths``, read from ``cache_dir`` when this pack analysed these photos before."""
    key = _cache_key(pack, engine, paths)
    cache = None if cache_dir is None else cache_dir / f"{pack.name}-{key}.npz"
    if cache is not None and cache.is_file():
        logger.info("faces of %d photos from %s", len(paths), cache)
        return _load(cache)
    started = time.perf_counter()
    # Only the faces are kept, not the decoded pixels each result also holds.
    results = []
    found = analyse_files(engine, list(paths), workers=workers, max_bytes=max_bytes, max_pixels=max_pixels)
    with progress(len(paths), f"analysing with {pack.name}", "photos") as shown:
        for done, result in enumerate(found, start=1):
            results.append(result.faces)
            shown.advance_to(done)
    seconds = time.perf_counter() - started
    faces = [(n, face) for n, r in enumerate(results) if r is not None for face in r.faces]
    dimension = engine.embedder.embedding_size
    table = PhotoFaces(
        readable=np.array([r is not None for r in results], dtype=bool),
        width=np.array([r.width if r else 0 for r in results], dtype=np.int64),
        height=np.array([r.height if r else 0 for r in results], dtype=np.int64),
        face_image=np.array([n for n, _ in faces], dtype=np.int64),
        boxes=np.array([f.box for _, f in faces], dtype=np.float32).reshape(-1, 4),
        scores=np.array([f.score for _, f in faces], dtype=np.float32),
        sharpness=np.array([f.sharpness for _, f in faces], dtype=np.float32),
        embeddings=np.array([f.embedding for _, f in faces], dtype=np.float32).reshape(-1, dimension),
        seconds=seconds,
    )
    if cache is not None:
        _save(cache, table)
    return table


def _cache_key(pack: ModelPack, engine: FaceEngine, paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for part in (pack.name, pack.detector.file.sha256, pack.embedder.file.sha256, pack.detector, pack.embedder):
        digest.update(f"{part}\n".encode())
    digest.update(f"{engine.options}\n".encode())
    for path in paths:
        stat = path.stat() if path.is_file() else None
        digest.update(f"{path.resolve()}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}\n".encode())
    return digest.hexdigest()[:20]


def _save(path: Path, table: PhotoFaces) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(".partial.npz")
    columns = {name: getattr(table, name) for name in PhotoFaces.__dataclass_fields__ if name != "seconds"}
    np.savez(draft, seconds=np.float64(table.seconds), **columns)
    draft.replace(path)


def _load(path: Path) -> PhotoFaces:
    with np.load(path) as data:
        columns = {name: data[name] for name in PhotoFaces.__dataclass_fields__ if name != "seconds"}
        return PhotoFaces(seconds=float(data["seconds"]), **columns)
