"""What a similarity means: cosine thresholds measured at false-accept rates, and the FAR of any score.

Two scores are calibrated. A face against one reference photo (a pair), and a face against the
centroid of a case's reference photos (the normalised mean of their embeddings), whose meaning
depends on how many photos the case holds: its tables are per number of photos, the largest
serving larger cases too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Points = tuple[tuple[float, float], ...]  # (far, threshold), loosest first


def _ordered(points: Points) -> Points:
    return tuple(sorted(points, key=lambda p: -p[0]))


def threshold_at(points: Points, far: float) -> float:
    """The similarity threshold at ``far`` in a (far, threshold) table, interpolated on a log scale."""
    fars = np.log10([p[0] for p in points])
    return float(np.interp(-np.log10(far), -fars, [p[1] for p in points]))


def rate_of(points: Points, similarity: NDArray[np.floating]) -> NDArray[np.float64]:
    """The FAR of each similarity in a (far, threshold) table, interpolated on a log scale, clamped at the ends."""
    fars = np.log10([p[0] for p in points])
    return 10.0 ** np.interp(np.asarray(similarity, dtype=np.float64), [p[1] for p in points], fars)


@dataclass(frozen=True)
class Calibration:
    """Cosine-similarity thresholds measured at given false-accept rates.

    points: (far, threshold) pairs of a face against one reference photo; source: what they were
    measured on, in words; operating_far: the FAR whose threshold decides "above threshold" by
    default; centroid: (photos, points) tables of a face against the centroid of a case with that
    many reference photos (false accepts per case), empty when not measured.
    """

    points: Points
    source: str
    operating_far: float = 1e-3
    centroid: tuple[tuple[int, Points], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _ordered(self.points))
        tables = tuple(sorted((int(m), _ordered(points)) for m, points in self.centroid))
        object.__setattr__(self, "centroid", tables)

    def threshold(self, far: float | None = None) -> float:
        """The similarity threshold at ``far`` (default: the operating FAR), interpolated."""
        return threshold_at(self.points, self.operating_far if far is None else far)

    def false_accept_rate(self, similarity: NDArray[np.floating]) -> NDArray[np.float64]:
        """The calibrated FAR of each similarity, interpolated on a log scale, clamped at the ends."""
        return rate_of(self.points, similarity)

    def centroid_table(self, references: int) -> Points | None:
        """The centroid table for a case with this many reference photos (the largest measured serves
        larger cases); None for a single photo or when none was measured."""
        usable = [points for m, points in self.centroid if m <= references]
        return usable[-1] if usable and references >= 2 else None

    def strictest_far(self) -> float:
        return min(point[0] for point in self.points)


@dataclass(frozen=True)
class OperatingPoint:
    """The thresholds a search of a gallery of a given size uses, and what they mean there.

    far: the false-accept rate per comparison at ``threshold`` (a face against one reference
    photo) and at ``centroid_thresholds`` (a face against the centroid of a case with that many
    photos); gallery_faces: the reference photos searched; comparisons: those, plus one centroid
    per case with several photos when the pack measured centroids; expected_wrong: the wrong
    cases expected above threshold per face searched (``comparisons × far``, a bound the
    calibration set shows to hold with room to spare).
    """

    threshold: float
    far: float
    gallery_faces: int
    comparisons: int
    expected_wrong: float
    centroid_thresholds: tuple[tuple[int, float], ...] = ()

    def centroid_threshold(self, references: int) -> float | None:
        """The centroid's threshold for a case with this many photos; None: judged by its best photo only."""
        usable = [threshold for m, threshold in self.centroid_thresholds if m <= references]
        return usable[-1] if usable and references >= 2 else None


def operating_point(
    calibration: Calibration, gallery_faces: int, max_wrong: float | None, multi_photo_cases: int = 0
) -> OperatingPoint:
    """The pack's operating point, made stricter as the gallery grows so that a face searched meets at
    most ``max_wrong`` wrong cases above threshold on average (None: the pack's point whatever the size).

    A case is above threshold when its best photo passes, or (with several photos) its centroid
    does: each comparison gets the same FAR. Never looser than the pack's operating FAR, never
    stricter than its strictest measured point; a centroid table measured less far than that point
    is left out (those cases are judged by their best photo).
    """
    comparisons = gallery_faces + (multi_photo_cases if calibration.centroid else 0)
    far = calibration.operating_far
    if max_wrong is not None and comparisons > 0:
        far = min(far, max_wrong / comparisons)
    far = max(far, calibration.strictest_far())
    return OperatingPoint(
        threshold=calibration.threshold(far),
        far=far,
        gallery_faces=gallery_faces,
        comparisons=comparisons,
        expected_wrong=comparisons * far,
        # A centroid table that stops before ``far`` cannot say where its threshold lies there.
        centroid_thresholds=tuple(
            (m, threshold_at(points, far)) for m, points in calibration.centroid if far >= min(p[0] for p in points)
        ),
    )
