"""Which face of a family's photo becomes a case's reference, and what to tell them about it.

Families send the photos they have: small, soft, with other people in them. The gate refuses
only what cannot work (no face, a face under the minimum size, several faces and no way to tell
which one is meant); everything else is accepted with warnings, unless the caller asks for
strict mode. The thresholds come from measurement on public photos (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.quality import MAIN_FACE_MARGIN, main_face
from pipeline.types import Face
from serving.errors import EnrolmentError


@dataclass(frozen=True)
class EnrolmentRules:
    """Below ``min_face_size`` pixels a face is refused; below the soft levels it is accepted with a warning.

    Measured on the 4,803 LFW photos of ../shared/calibration (benchmarks/reference_intake.py): a
    face's chance to match its own identity falls to 57 % at 16–20 px and 13–17 % at 12–16 px, is
    87–90 % at 20–24 px, ≥ 96 % from 32 px; sharpness under 20 loses a few points, under 10 most.
    """

    min_face_size: float = 20.0
    soft_face_size: float = 32.0
    soft_sharpness: float = 20.0


@dataclass(frozen=True)
class FaceChoice:
    """Which face the caller means: an index into the faces found, or a box drawn around it."""

    index: int | None = None
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class IntakeWarning:
    code: str  # small_face, blurred, other_faces
    detail: str


@dataclass(frozen=True)
class Chosen:
    index: int
    warnings: tuple[IntakeWarning, ...]


def choose_reference(
    faces: Sequence[Face],
    width: int,
    height: int,
    *,
    choice: FaceChoice | None = None,
    rules: EnrolmentRules | None = None,
    strict: bool = False,
) -> Chosen:
    """The face to enrol and its warnings, or EnrolmentError saying why none can be."""
    rules = rules or EnrolmentRules()
    if not faces:
        raise EnrolmentError("no_face", "no face was found in the photo")
    index = _pick(faces, width, height, choice)
    face = faces[index]
    if face.size < rules.min_face_size:
        raise EnrolmentError(
            "too_small", f"the face is {face.size:.0f} pixels, under {rules.min_face_size:.0f}: use a larger photo"
        )
    warnings = _warnings(face, len(faces), rules)
    # A face the caller chose is not refused for the others in the photo, strict or not.
    refusable = [w for w in warnings if not (choice is not None and w.code == "other_faces")]
    if strict and refusable:
        raise EnrolmentError(_STRICT_CODES[refusable[0].code], f"strict mode: {refusable[0].detail}")
    return Chosen(index=index, warnings=warnings)


_STRICT_CODES = {"small_face": "too_small", "blurred": "too_blurred", "other_faces": "several_faces"}


def _pick(faces: Sequence[Face], width: int, height: int, choice: FaceChoice | None) -> int:
    if choice is not None and choice.index is not None:
        if not 0 <= choice.index < len(faces):
            raise EnrolmentError("no_such_face", f"face {choice.index} was asked for; {len(faces)} were found")
        return choice.index
    if choice is not None and choice.box is not None:
        return _nearest(faces, choice.box)
    if len(faces) == 1:
        return 0
    boxes = np.stack([face.box for face in faces]).astype(np.float32)
    index = main_face(boxes, width, height, margin=MAIN_FACE_MARGIN)
    if index is None:
        raise EnrolmentError(
            "several_faces", f"{len(faces)} faces were found and none stands out: choose one (face index or box)"
        )
    return index


def _nearest(faces: Sequence[Face], box: tuple[float, float, float, float]) -> int:
    overlaps = [_iou(np.asarray(box, np.float32), face.box) for face in faces]
    best = int(np.argmax(overlaps))
    if overlaps[best] < 0.3:
        raise EnrolmentError("no_such_face", "no face found in the photo lies inside the box given")
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    height = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _warnings(face: Face, count: int, rules: EnrolmentRules) -> tuple[IntakeWarning, ...]:
    found = []
    if face.size < rules.soft_face_size:
        found.append(
            IntakeWarning("small_face", f"the face is small ({face.size:.0f} px): a larger photo matches better")
        )
    if face.sharpness < rules.soft_sharpness:
        found.append(IntakeWarning("blurred", "the face is soft or blurred: a sharper photo matches better"))
    if count > 1:
        found.append(IntakeWarning("other_faces", f"{count - 1} other face(s) in the photo were left out"))
    return tuple(found)
