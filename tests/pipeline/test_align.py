"""Five-point alignment: exact on synthetic transforms, and the same crops InsightFace makes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.align import ARCFACE_TEMPLATE, align_faces, estimate_similarity
from pipeline.engine import FaceEngine
from pipeline.types import Detections


def test_recovers_a_known_similarity() -> None:
    angle, scale, shift = np.deg2rad(25), 2.5, np.array([300.0, 120.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (ARCFACE_TEMPLATE @ rotation.T + shift).astype(np.float32)
    matrix = estimate_similarity(landmarks[None], ARCFACE_TEMPLATE)[0]
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_TEMPLATE, atol=1e-3)


def test_mirrored_points_still_give_a_rotation() -> None:
    mirrored = ARCFACE_TEMPLATE * np.array([-1.0, 1.0], np.float32)
    matrix = estimate_similarity(mirrored[None], ARCFACE_TEMPLATE)[0]
    assert np.linalg.det(matrix[:, :2]) > 0  # a similarity never flips the face


def test_crops_match_insightface_norm_crop(t1: np.ndarray, engines: dict[str, FaceEngine]) -> None:
    face_align = pytest.importorskip("insightface.utils.face_align")
    detections = engines["shared-scrfd"].detector.detect([t1])
    ours = align_faces([t1], detections)
    for crop, points in zip(ours.crops, detections.landmarks, strict=True):
        reference = face_align.norm_crop(t1, points)
        assert np.abs(crop.astype(int) - reference.astype(int)).mean() < 1.0


def test_batch_alignment_picks_each_faces_own_image(t1: np.ndarray) -> None:
    dark = np.zeros_like(t1)
    points = np.repeat(ARCFACE_TEMPLATE[None] * 2 + 100, 2, axis=0)
    detections = Detections(
        boxes=np.array([[0, 0, 300, 300]] * 2, np.float32),
        landmarks=points,
        scores=np.ones(2, np.float32),
        image_index=np.array([0, 1]),
        num_images=2,
    )
    crops = align_faces([t1, dark], detections).crops
    assert crops[0].mean() > 20 and crops[1].max() == 0
