"""PNG charts for `sura eval`: ROC and DET curves and score histograms, drawn with Pillow (no plotting library)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from pipeline.evaluate import PairScores, roc_curve

WIDTH, HEIGHT, MARGIN = 760, 520, 64
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))
GREY, BLACK = (200, 200, 200), (0, 0, 0)


@dataclass(frozen=True)
class Axis:
    """One axis: its range, whether it is logarithmic, its label and where the tick marks go."""

    low: float
    high: float
    log: bool
    label: str
    ticks: tuple[float, ...]

    def position(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """0–1 along the axis (clipped)."""
        values = np.clip(values, self.low, self.high)
        if self.log:
            return (np.log10(values) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (values - self.low) / (self.high - self.low)


def write_charts(folder: Path, name: str, pairs: PairScores, thresholds: Mapping[str, float]) -> list[Path]:
    """``name``-roc.png, -det.png and -scores.png in ``folder``; ``thresholds``: labelled lines on the histogram."""
    folder.mkdir(parents=True, exist_ok=True)
    far, tar = roc_curve(pairs)
    keep = far > 0
    lowest = 10.0 ** math.floor(math.log10(max(1.0 / max(len(pairs.impostor), 1), 1e-7)))
    fars = tuple(10.0**k for k in range(round(math.log10(lowest)), 1))
    far_axis = Axis(lowest, 1.0, True, "false-accept rate", fars)
    roc = _chart(
        f"{name}: ROC",
        far_axis,
        Axis(0.0, 1.0, False, "true-accept rate", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),
        {name: (far[keep], tar[keep])},
    )
    det = _chart(
        f"{name}: DET",
        far_axis,
        Axis(1e-3, 1.0, True, "false-reject rate", (1e-3, 1e-2, 1e-1, 1.0)),
        {name: (far[keep], np.maximum(1.0 - tar[keep], 1e-3))},
    )
    paths = [folder / f"{name}-roc.png", folder / f"{name}-det.png", folder / f"{name}-scores.png"]
    roc.save(paths[0])
    det.save(paths[1])
    _histogram(f"{name}: similarity of genuine and impostor pairs", pairs, thresholds).save(paths[2])
    return paths


def _chart(
    title: str, x: Axis, y: Axis, series: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64]]]
) -> Image.Image:
    image, draw, to_pixels = _canvas(title, x, y)
    for k, (label, (xs, ys)) in enumerate(series.items()):
        points = to_pixels(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
        if len(points) > 1:
            draw.line(points, fill=COLOURS[k % len(COLOURS)], width=2)
        draw.text((WIDTH - 200, MARGIN + 16 * k), label, fill=COLOURS[k % len(COLOURS)])
    return image


def _histogram(title: str, pairs: PairScores, thresholds: Mapping[str, float]) -> Image.Image:
    scores = np.concatenate([pairs.genuine, pairs.impostor])
    low, high = float(np.floor(scores.min() * 10) / 10), float(np.ceil(scores.max() * 10) / 10)
    edges = np.linspace(low, high, 81)
    density = [np.histogram(s, edges)[0] / max(len(s), 1) for s in (pairs.genuine, pairs.impostor)]
    top = float(max(d.max() for d in density)) or 1.0
    step = 0.1 if high - low <= 1.0 else 0.2
    ticks = tuple(np.round(np.arange(np.ceil(low / step) * step, high + 1e-9, step), 1))
    x = Axis(low, high, False, "cosine similarity", ticks)
    y = Axis(0.0, top * 1.05, False, "share of pairs", tuple(np.round(np.linspace(0, top, 5), 3)))
    image, draw, to_pixels = _canvas(title, x, y)
    centres = (edges[:-1] + edges[1:]) / 2
    for k, (label, values) in enumerate(zip(("genuine", "impostor"), density, strict=True)):
        draw.line(to_pixels(centres, values.astype(np.float64)), fill=COLOURS[k], width=2)
        draw.text(
            (WIDTH - 200, MARGIN + 16 * k),
            f"{label} ({len(pairs.genuine if k == 0 else pairs.impostor):,})",
            fill=COLOURS[k],
        )
    for k, (label, threshold) in enumerate(thresholds.items()):
        [(px, py0), (_, py1)] = to_pixels(np.array([threshold, threshold]), np.array([0.0, top]))
        draw.line([(px, py0), (px, py1)], fill=(110, 110, 110), width=2)
        draw.text((px + 3, MARGIN + 40 + 14 * k), label, fill=BLACK)
    return image


Pixels = Callable[[NDArray[np.float64], NDArray[np.float64]], list[tuple[float, float]]]


def _canvas(title: str, x: Axis, y: Axis) -> tuple[Image.Image, ImageDraw.ImageDraw, Pixels]:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = MARGIN, WIDTH - 24, MARGIN, HEIGHT - MARGIN

    def to_pixels(xs: NDArray[np.float64], ys: NDArray[np.float64]) -> list[tuple[float, float]]:
        px = left + x.position(xs) * (right - left)
        py = bottom - y.position(ys) * (bottom - top)
        return list(zip(px.tolist(), py.tolist(), strict=True))

    for tick in x.ticks:
        [(px, _)] = to_pixels(np.array([tick]), np.array([y.low]))
        draw.line([(px, top), (px, bottom)], fill=GREY)
        draw.text((px - 14, bottom + 6), f"{tick:g}", fill=BLACK)
    for tick in y.ticks:
        [(_, py)] = to_pixels(np.array([x.low]), np.array([tick]))
        draw.line([(left, py), (right, py)], fill=GREY)
        draw.text((6, py - 6), f"{tick:g}", fill=BLACK)
    draw.rectangle([left, top, right, bottom], outline=BLACK)
    draw.text((left, 20), title, fill=BLACK)
    draw.text(((left + right) // 2 - 50, bottom + 26), x.label, fill=BLACK)
    draw.text((6, top - 22), y.label, fill=BLACK)
    return image, draw, to_pixels
