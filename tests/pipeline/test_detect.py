"""SCRFD and YuNet decoding agree with the reference decoders on the same ONNX files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.detector import OnnxFaceDetector
from pipeline.decode import read_image_file
from pipeline.detect import DetectionParams, anchor_grid, finish_detections
from pipeline.engine import FaceEngine
from pipeline.letterbox import letterbox, trimmed_canvas
from pipeline.nms import batched_nms

SIZE = (640, 640)


def _scenes(faces_dir: Path) -> list[np.ndarray]:
    return [read_image_file(p).pixels for p in sorted((faces_dir / "scenes").iterdir())]


def _square(engine: FaceEngine) -> OnnxFaceDetector:
    """The pack's detector on InsightFace's fixed 640×640 canvas instead of a trimmed one."""
    detector = engine.detector
    return OnnxFaceDetector(replace(detector.spec, canvas="square"), detector.session, detector.layout)


def _insightface_reference(shared: Path, file: str):
    scrfd = pytest.importorskip("insightface.model_zoo.scrfd")
    reference = scrfd.SCRFD(model_file=str(shared / "models" / file))
    reference.prepare(-1, input_size=SIZE, det_thresh=0.5, nms_thresh=0.4)
    return reference


@pytest.mark.parametrize(
    ("pack", "file"), [("shared-scrfd", "scrfd_500m_bnkps.onnx"), ("shared-scrfd-2.5g", "scrfd_2.5g_bnkps.onnx")]
)
def test_scrfd_decoder_matches_insightface(
    shared: Path, faces_dir: Path, engines: dict[str, FaceEngine], pack: str, file: str
) -> None:
    """Same network input → InsightFace's own decode + NMS and ours give the same faces (≤ 1 px)."""
    reference = _insightface_reference(shared, file)
    detector = _square(engines[pack])
    checked = 0
    for image in _scenes(faces_dir):
        boxed = letterbox([image], SIZE)
        scores, boxes, points = reference.forward(np.ascontiguousarray(boxed.canvas[0][..., ::-1]), 0.5)
        scores, boxes, points = np.vstack(scores).ravel(), np.vstack(boxes), np.vstack(points)
        order = np.argsort(-scores)
        candidates = np.hstack([boxes, scores[:, None]])[order]
        keep = reference.nms(candidates)
        ours = detector.detect([image])
        scale = boxed.scale[0]
        assert len(ours) == len(keep)
        np.testing.assert_allclose(ours.boxes * np.tile(scale, 2), candidates[keep, :4], atol=1.0)
        np.testing.assert_allclose(ours.landmarks * scale, points[order][keep].reshape(-1, 5, 2), atol=1.0)
        checked += len(ours)
    assert checked >= 20


@pytest.mark.parametrize(
    ("pack", "file"), [("shared-scrfd", "scrfd_500m_bnkps.onnx"), ("shared-scrfd-2.5g", "scrfd_2.5g_bnkps.onnx")]
)
def test_scrfd_detect_matches_insightface_in_original_pixels(
    shared: Path, faces_dir: Path, engines: dict[str, FaceEngine], pack: str, file: str
) -> None:
    """End to end from the photo. InsightFace maps x back with the y scale (``new_h / h``); on a
    2280-px-wide photo that moves its boxes up to 3.7 px. Undoing that, all faces agree ≤ 1 px."""
    reference = _insightface_reference(shared, file)
    for image in _scenes(faces_dir):
        boxes, points = reference.detect(np.ascontiguousarray(image[..., ::-1]), input_size=SIZE)
        order = np.argsort(-boxes[:, 4])
        sx, sy = letterbox([image], SIZE).scale[0]
        correction = np.array([sy / sx, 1.0], dtype=np.float32)
        ours = _square(engines[pack]).detect([image])
        assert len(ours) == len(boxes)
        np.testing.assert_allclose(ours.boxes, boxes[order, :4] * np.tile(correction, 2), atol=1.0)
        np.testing.assert_allclose(ours.landmarks, points[order] * correction, atol=1.0)


def test_yunet_decoder_matches_opencv(shared: Path, faces_dir: Path, engines: dict[str, FaceEngine]) -> None:
    reference = cv2.FaceDetectorYN.create(str(shared / "models" / "yunet_2023mar.onnx"), "", SIZE, 0.8, 0.4, 5000)
    people = sorted((faces_dir / "people").rglob("*.jpg"))[:12]
    photos = _scenes(faces_dir) + [read_image_file(p).pixels for p in people]
    checked = 0
    for image in photos:
        boxed = letterbox([image], SIZE)
        _, found = reference.detect(np.ascontiguousarray(boxed.canvas[0][..., ::-1]))
        found = np.zeros((0, 15), np.float32) if found is None else found[np.argsort(-found[:, 14])]
        ours = engines["shared-yunet"].detector.detect([image])
        scale = boxed.scale[0]
        assert len(ours) == len(found)
        expected_boxes = np.hstack([found[:, :2], found[:, :2] + found[:, 2:4]])
        np.testing.assert_allclose(ours.boxes * np.tile(scale, 2), expected_boxes, atol=1.0)
        np.testing.assert_allclose(ours.landmarks * scale, found[:, 4:14].reshape(-1, 5, 2), atol=1.0)
        checked += len(ours)
    assert checked >= 30


@pytest.mark.parametrize("pack", ["shared-scrfd", "shared-scrfd-2.5g"])
def test_trimmed_canvas_finds_the_same_faces(faces_dir: Path, engines: dict[str, FaceEngine], pack: str) -> None:
    """A canvas cut to the photo's shape saves work and moves boxes by a fraction of a pixel."""
    trimmed, square = engines[pack].detector, _square(engines[pack])
    assert trimmed.spec.canvas == "fit"
    for image in _scenes(faces_dir):
        ours, reference = trimmed.detect([image]), square.detect([image])
        assert len(ours) == len(reference)
        np.testing.assert_allclose(ours.boxes, reference.boxes, atol=2.0)


def test_trimmed_canvas_is_a_multiple_of_32() -> None:
    assert trimmed_canvas((300, 1000, 3), SIZE) == (640, 192)
    assert trimmed_canvas((500, 200, 3), SIZE) == (256, 640)
    assert trimmed_canvas((20, 20, 3), SIZE) == (640, 640)
    boxed = letterbox([np.zeros((300, 1000, 3), np.uint8)], SIZE, (640, 192))
    assert boxed.canvas.shape == (1, 192, 640, 3) and boxed.scale[0, 0] == pytest.approx(0.64)


def test_anchor_grid_covers_every_cell() -> None:
    corners, strides = anchor_grid(64, 32, (8, 16), (2, 1))
    assert len(corners) == 8 * 4 * 2 + 4 * 2
    assert corners[:2].tolist() == [[0, 0], [0, 0]] and corners[2].tolist() == [8, 0]
    assert set(strides.tolist()) == {8.0, 16.0}


def test_nms_keeps_images_apart_and_orders_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.7], np.float32)
    image = np.array([0, 0, 1, 0], np.int64)
    keep = batched_nms(boxes, scores, image, 0.4)
    assert keep.tolist() == [1, 3, 2]  # image 0: the 0.9 box beats its overlapping 0.6 one


def test_max_faces_caps_each_image() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    image = np.array([0, 0, 0, 1], np.int64)
    found = finish_detections(
        boxes, np.zeros((4, 5, 2), np.float32), scores, image, np.ones((2, 2), np.float32), DetectionParams(max_faces=2)
    )
    assert found.counts().tolist() == [2, 1]
    assert found.scores.tolist() == pytest.approx([0.9, 0.8, 0.6])
