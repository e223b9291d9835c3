"""What a similarity means: cosine thresholds measured at false-accept rates, and the FAR of any score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Calibration:
    """Cosine-similarity thresholds measured at given false-accept rates.

    points: (far, threshold) pairs; source: what they were measured on, in words.
    operating_far: the FAR whose threshold decides "above threshold" by default.
    """

    points: tuple[tuple[float, float], ...]
    source: str
    operating_far: float = 1e-3

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.points, key=lambda p: -p[0]))
        object.__setattr__(self, "points", ordered)

    def threshold(self, far: float | None = None) -> float:
        """The similarity threshold at ``far`` (default: the operating FAR), interpolated."""
        fars = np.log10([p[0] for p in self.points])
        thresholds = np.array([p[1] for p in self.points])
        target = np.log10(self.operating_far if far is None else far)
        return float(np.interp(-target, -fars, thresholds))

    def false_accept_rate(self, similarity: NDArray[np.float32]) -> NDArray[np.float64]:
        """The calibrated FAR of each similarity, interpolated on a log scale, clamped at the ends."""
        fars = np.log10([p[0] for p in self.points])
        thresholds = np.array([p[1] for p in self.points])
        return 10.0 ** np.interp(np.asarray(similarity, dtype=np.float64), thresholds, fars)


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a search of a gallery of a given size uses, and what it means there.

    far: the false-accept rate per compared pair at ``threshold``; gallery_faces: the reference
    faces one searched face is compared with; expected_wrong: the wrong cases expected above
    the threshold per face searched (``gallery_faces × far``: a case with several reference
    photos counts once per photo, which the calibration set shows to be a slight overestimate).
    """

    threshold: float
    far: float
    gallery_faces: int
    expected_wrong: float


def operating_point(calibration: Calibration, gallery_faces: int, max_wrong: float | None) -> OperatingPoint:
    """The pack's operating point, made stricter as the gallery grows so that a face searched meets at
    most ``max_wrong`` wrong cases above threshold on average (None: the pack's point whatever the size).

    Never looser than the pack's operating FAR, never stricter than its strictest measured point.
    """
    far = calibration.operating_far
    if max_wrong is not None and gallery_faces > 0:
        far = min(far, max_wrong / gallery_faces)
    far = max(far, min(point[0] for point in calibration.points))
    return OperatingPoint(
        threshold=calibration.threshold(far), far=far, gallery_faces=gallery_faces, expected_wrong=gallery_faces * far
    )
