"""Degraded copies for the intake measurement: how matching falls as faces shrink or blur.

Used by ``reference_intake.py``; the copies are made in a temporary folder and analysed like the originals.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.packs import ModelPack
from pipeline.decode import read_image_file
from pipeline.engine import FaceEngine
from serving.cli.labelled import PhotoFaces, analyse_photos

SHARPNESS_EDGES = (0, 5, 10, 15, 20, 25, 35, 50, 75, 100, 150, 200, 300, np.inf)
SIZE_EDGES = (0, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, np.inf)


@dataclass(frozen=True)
class Reference:
    """What degraded copies are matched against: the full-size photos of each identity, and the threshold."""

    engine: FaceEngine
    pack: ModelPack
    photos: Sequence[tuple[str, Path]]
    table: PhotoFaces
    main: NDArray[np.int64]
    labels: NDArray[np.int64]
    threshold: float
    cache: Path


def degraded(reference: Reference, first: list[int], kind: str, levels: Sequence[float]) -> list[str]:
    """Copies of each identity's first photo, shrunk (``kind`` "scale") or blurred ("blur", sigma in
    pixels), matched against the identity's other photos at full size; bucketed by face size or sharpness."""
    rows, measured, hits = [], [], []
    for level in levels:
        folder = reference.cache / ("intake-scaled" if kind == "scale" else "intake-blurred") / f"{level:g}"
        paths = _copies([reference.photos[n][1] for n in first], folder, kind, level)
        copies = analyse_photos(reference.engine, reference.pack, paths, cache_dir=reference.cache)
        probe_main = copies.main_faces()
        found = probe_main >= 0
        probes = np.zeros((len(first), reference.table.embeddings.shape[1]), np.float32)
        probes[found] = copies.embeddings[probe_main[found]]
        matched = found & (_best_against(probes, reference, first) > reference.threshold)
        size, sharp = pick(copies.size, probe_main), pick(copies.sharpness, probe_main)
        rows.append(
            f"| {kind} {level:g} | {len(first)} | {rate(found)} | {median_text(size)} | {median_text(sharp)} "
            f"| {rate(matched)} |"
        )
        measured.append((size if kind == "scale" else sharp)[found])
        hits.append(matched[found])
    what = "shrunk and centred on a grey canvas" if kind == "scale" else "blurred (Gaussian, sigma in px)"
    measure, edges = ("face px", SIZE_EDGES) if kind == "scale" else ("sharpness", SHARPNESS_EDGES)
    lines = [
        f"Copies of {len(first)} photos (one per identity), {what}:",
        "",
        "| copy | photos | face found | median face px | median sharpness | matched (of all) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Matched by the copy's {measure} (all {kind} copies, faces found):",
        "",
        f"| {measure} | faces | matched |",
        "|---|---:|---:|",
    ]
    value_all, hit_all = np.concatenate(measured), np.concatenate(hits)
    for low, high in itertools.pairwise(edges):
        inside = (value_all >= low) & (value_all < high)
        lines.append(f"| {low:g}–{high:g} | {inside.sum()} | {rate(hit_all[inside])} |")
    return [*lines, ""]


def first_photos(photos: Sequence[tuple[str, Path]], labels: NDArray[np.int64], limit: int) -> list[int]:
    """Index of the first photo of the first ``limit`` identities that have another photo."""
    first: dict[str, int] = {}
    for n, (name, _) in enumerate(photos):
        first.setdefault(name, n)
    several = [n for n in first.values() if np.sum(labels[: len(photos)] == labels[n]) > 1]
    return several[:limit]


def _best_against(probes: NDArray[np.float32], reference: Reference, first: list[int]) -> NDArray[np.float32]:
    """(P,) best similarity of each probe to the full-size main faces of its identity's other photos."""
    labels, main = reference.labels, reference.main
    best = np.full(len(first), -1.0, dtype=np.float32)
    for p, n in enumerate(first):
        others = np.flatnonzero((labels == labels[n]) & (main >= 0))
        others = others[others != n]
        if len(others):
            best[p] = float(np.max(reference.table.embeddings[main[others]] @ probes[p]))
    return best


def _copies(paths: Sequence[Path], folder: Path, kind: str, level: float) -> list[Path]:
    """PNG copies of ``paths``: shrunk by ``level`` onto a mid-grey canvas of the original size, or blurred."""
    copies = []
    for path in paths:
        target = folder / path.parent.name / f"{path.stem}.png"
        if not target.is_file():
            pixels = read_image_file(path).pixels
            changed = _shrunk(pixels, level) if kind == "scale" else cv2.GaussianBlur(pixels, (0, 0), level)
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), cv2.cvtColor(changed, cv2.COLOR_RGB2BGR))
        copies.append(target)
    return copies


def _shrunk(pixels: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    canvas = np.full_like(pixels, 128)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def median_text(values: NDArray[np.float64]) -> str:
    return f"{np.nanmedian(values):.0f}" if np.isfinite(values).any() else "–"


def pick(values: NDArray[np.float32], index: NDArray[np.int64]) -> NDArray[np.float64]:
    """``values[index]``, NaN where the index is -1 (no face)."""
    picked = np.full(len(index), np.nan)
    picked[index >= 0] = values[index[index >= 0]]
    return picked


def share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} % ({count})" if total else "n/a"


def rate(hits: NDArray[np.bool_]) -> str:
    return f"{100 * np.mean(hits):.1f} %" if len(hits) else "–"
