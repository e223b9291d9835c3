"""The device path's steps, one by one, against the numpy steps they stand for (torch on the CPU)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torchvision", reason="the device path needs torch and torchvision: pip install 'surasmart[torch]'")

import torch

from models.registry import PackSources, load_engine, resolve_pack
from pipeline.align import ARCFACE_TEMPLATE, align_faces, estimate_similarity
from pipeline.decode import read_image_file
from pipeline.detect import DetectionParams, decode_scrfd, decode_yunet
from pipeline.device.align import align_tensors, similarity_matrices
from pipeline.device.detect import decode_scrfd_tensors, decode_yunet_tensors
from pipeline.device.letterbox import letterbox_tensors, pad_tensors, resize_linear
from pipeline.device.quality import assess_quality_tensors
from pipeline.engine import FaceEngine
from pipeline.letterbox import letterbox, pad_images, to_blob, trimmed_canvas
from pipeline.quality import assess_quality

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def scrfd(shared: Path) -> FaceEngine:
    return load_engine(resolve_pack("shared-scrfd", PackSources()))


@pytest.fixture(scope="module")
def photos(faces_dir: Path) -> list[np.ndarray]:
    """Photos of several shapes: wide, tall, square, small."""
    names = ["scenes/t1.jpg", "scenes/fr_test_unknown_elon_musk.jpg", "scenes/deepface_selfie-many-people.jpg"]
    return [read_image_file(faces_dir / name).pixels for name in names]


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy())


@pytest.mark.parametrize("factor", [0.31, 0.5, 0.75, 1.07, 2.3])
def test_resize_is_cv2_inter_linear_bit_for_bit(photos: list[np.ndarray], factor: float) -> None:
    for image in (photo[:400, :300] for photo in photos):
        height, width = image.shape[:2]
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        ours = resize_linear(_tensor(image).permute(2, 0, 1)[None], size)[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(ours, cv2.resize(image, size[::-1]))


@pytest.mark.parametrize(("canvas", "bgr"), [("fit", False), ("square", True)])
def test_letterbox_gives_the_cpu_blob(photos: list[np.ndarray], canvas: str, bgr: bool) -> None:
    for image in photos:
        size = (640, 640)
        # A trimmed canvas holds images of one shape; a square one any mix.
        other = image[:, ::-1] if canvas == "fit" else image[::2, ::3]
        frame = trimmed_canvas(image.shape, size) if canvas == "fit" else size
        boxed = letterbox([image, other.copy()], size, frame)
        expected = to_blob(boxed.canvas, mean=127.5, std=128.0, bgr=bgr)
        blob, scale = letterbox_tensors([_tensor(image), _tensor(other)], size, frame, mean=127.5, std=128.0, bgr=bgr)
        np.testing.assert_array_equal(blob.numpy(), expected)
        np.testing.assert_allclose(scale.numpy(), boxed.scale, rtol=1e-6)


def test_padding_gives_the_cpu_black_border(photos: list[np.ndarray]) -> None:
    padded, offsets = pad_images(photos, 0.5)
    ours, our_offsets = pad_tensors([_tensor(p) for p in photos], 0.5)
    for photo, expected, tensor, (left, top) in zip(photos, padded, ours, offsets.astype(int), strict=True):
        np.testing.assert_array_equal(tensor.numpy(), expected)
        np.testing.assert_array_equal(expected[top : top + photo.shape[0], left : left + photo.shape[1]], photo)
        assert expected[:top].max() == expected[:, :left].max() == 0
    np.testing.assert_array_equal(our_offsets.numpy(), offsets)


def test_closed_form_similarity_equals_umeyama() -> None:
    rng = np.random.default_rng(7)
    angle = rng.uniform(-np.pi, np.pi, 64)
    rotation = np.stack([np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)], axis=1).reshape(-1, 2, 2)
    points = ARCFACE_TEMPLATE @ (rng.uniform(0.2, 9.0, (64, 1, 1)) * rotation).transpose(0, 2, 1)
    points = (points + rng.uniform(0, 4000, (64, 1, 2)) + rng.normal(0, 3, points.shape)).astype(np.float32)
    expected = estimate_similarity(points, ARCFACE_TEMPLATE)
    ours = similarity_matrices(torch.from_numpy(points), torch.from_numpy(ARCFACE_TEMPLATE)).numpy()
    np.testing.assert_allclose(ours[:, :, :2], expected[:, :, :2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[:, :, 2], expected[:, :, 2], atol=2e-3)


def test_crops_match_cv2_warp_and_embed_the_same(scrfd: FaceEngine, photos: list[np.ndarray]) -> None:
    detections = scrfd.detector.detect(photos)
    expected = align_faces(photos, detections)
    crops = align_tensors(
        [_tensor(p) for p in photos],
        torch.from_numpy(detections.landmarks),
        torch.from_numpy(detections.image_index),
    )
    ours = crops.permute(0, 2, 3, 1).numpy()
    assert len(ours) == len(expected) == 13
    difference = np.abs(ours.astype(int) - expected.crops.astype(int))
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 3
    reference = scrfd.embed(expected)
    cosine = np.sum(reference * scrfd.embed(type(expected)(ours, expected.image_index)), axis=1)
    assert cosine.min() >= 0.999


def test_quality_matches_the_cpu_measure(scrfd: FaceEngine, photos: list[np.ndarray]) -> None:
    detections = scrfd.detector.detect(photos)
    for size in (112, 150):  # 150: a pack whose crops are resized before measuring
        aligned = align_faces(photos, detections, size)
        expected = assess_quality(detections, aligned)
        crops = torch.from_numpy(aligned.crops).permute(0, 3, 1, 2)
        ours = assess_quality_tensors(torch.from_numpy(detections.boxes), torch.from_numpy(detections.scores), crops)
        np.testing.assert_allclose(ours.size, expected.size)
        tolerance = 1e-3  # OpenCV 4 rounds its grey weights a little differently
        np.testing.assert_allclose(ours.sharpness, expected.sharpness, rtol=tolerance)
        np.testing.assert_allclose(ours.score, expected.score, rtol=tolerance, atol=1e-6)


@pytest.mark.parametrize("max_faces", [0, 2])
def test_scrfd_decoding_and_nms_equal_numpy(scrfd: FaceEngine, photos: list[np.ndarray], max_faces: int) -> None:
    boxed = letterbox(photos, (640, 640))
    session = scrfd.detector.session  # type: ignore[attr-defined]
    outputs = session.run({session.input_names[0]: to_blob(boxed.canvas, mean=127.5, std=128.0, bgr=False)})
    params = DetectionParams(score_threshold=0.3, max_faces=max_faces)
    expected = decode_scrfd(outputs, (640, 640), boxed.scale, params)
    tensors = [torch.from_numpy(o) for o in outputs]
    ours = decode_scrfd_tensors(tensors, (640, 640), torch.from_numpy(boxed.scale), params)
    _assert_same(ours.to_host(), expected)
    assert len(expected) == (5 if max_faces else 13)  # 6 + 1 + 6 faces, or at most 2 of each image


def test_yunet_decoding_equals_numpy(shared: Path, photos: list[np.ndarray]) -> None:
    engine = load_engine(resolve_pack("shared-yunet", PackSources()))
    boxed = letterbox(photos, (640, 640))
    session = engine.detector.session  # type: ignore[attr-defined]
    outputs = session.run({session.input_names[0]: to_blob(boxed.canvas, mean=0.0, std=1.0, bgr=True)})
    params = DetectionParams(score_threshold=0.6)
    expected = decode_yunet(outputs, (640, 640), boxed.scale, params)
    tensors = [torch.from_numpy(o) for o in outputs]
    ours = decode_yunet_tensors(tensors, (640, 640), torch.from_numpy(boxed.scale), params)
    _assert_same(ours.to_host(), expected)
    assert len(expected) >= 12


def _assert_same(ours: object, expected: object) -> None:
    for field in ("boxes", "landmarks", "scores", "image_index"):
        np.testing.assert_allclose(getattr(ours, field), getattr(expected, field), rtol=1e-5, atol=1e-3)
