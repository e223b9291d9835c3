"""The whole engine on real photos: every detector, batches, tight crops, rotations."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.decode import decode_image, read_image_file
from pipeline.engine import EngineOptions, FaceEngine, FaceLocator
from tests.helpers import ALL_PACKS, ONNX_PACKS


@pytest.mark.parametrize("pack", ALL_PACKS)
def test_all_six_faces_of_t1(engines: dict[str, FaceEngine], t1: np.ndarray, pack: str) -> None:
    [found] = engines[pack].analyse([t1])
    assert len(found.faces) == 6
    assert not found.padded_retry
    size = engines[pack].embedder.embedding_size
    for face in found.faces:
        assert face.embedding is not None and face.embedding.shape == (size,)
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-4)
        assert 0.0 <= face.quality <= 1.0


@pytest.mark.parametrize("pack", ALL_PACKS)
def test_batch_equals_single_calls(engines: dict[str, FaceEngine], faces_dir: Path, pack: str) -> None:
    names = [
        "scenes/t1.jpg",
        "scenes/fr_two_people.jpg",
        "people/fr_obama/examples__obama.jpg",
        "scenes/mask_blue.jpg",
        "people/deepface_id02/img12.jpg",
    ]
    images = [read_image_file(faces_dir / name).pixels for name in names]
    engine = engines[pack]
    batched = FaceEngine(
        FaceLocator(engine.detector, engine.locator.aligner, EngineOptions(detect_batch=8, embed_batch=64)),
        engine.embedder,
    )
    together = batched.analyse(images)
    alone = [engine.analyse([image])[0] for image in images]
    for one, other in zip(together, alone, strict=True):
        assert len(one.faces) == len(other.faces)
        for a, b in zip(one.faces, other.faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-2)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
            assert float(a.embedding @ b.embedding) > 0.99999


@pytest.mark.parametrize("pack", ALL_PACKS)
def test_masks_without_faces_give_none(engines: dict[str, FaceEngine], faces_dir: Path, pack: str) -> None:
    images = [read_image_file(p).pixels for p in sorted((faces_dir / "scenes").glob("mask_*.jpg"))]
    assert [len(r.faces) for r in engines[pack].analyse(images)] == [0] * len(images)


@pytest.fixture(scope="module")
def tight_crops(engines: dict[str, FaceEngine], people: list[tuple[str, Path]]) -> list[np.ndarray]:
    """ID-photo style crops: each photo cut to its largest face's box, nothing around it."""
    crops = []
    for _, path in people[::6]:
        image = read_image_file(path).pixels
        detections, _ = engines["shared-yunet"].detect([image])
        x1, y1, x2, y2 = detections.boxes[np.argmax(detections.boxes[:, 2] - detections.boxes[:, 0])].astype(int)
        crops.append(np.ascontiguousarray(image[max(y1, 0) : y2, max(x1, 0) : x2]))
    return crops


@pytest.mark.parametrize("pack", ["shared-scrfd", "shared-scrfd-2.5g"])
def test_tight_crops_are_found_by_padding(
    engines: dict[str, FaceEngine], tight_crops: list[np.ndarray], pack: str
) -> None:
    engine = engines[pack]
    without_retry = FaceEngine(
        FaceLocator(engine.detector, engine.locator.aligner, EngineOptions(pad_ratio=0)), engine.embedder
    )
    missed, _ = without_retry.detect(tight_crops)
    assert (missed.counts() == 0).sum() >= len(tight_crops) // 2, "SCRFD should miss frame-filling faces"
    results = engine.analyse(tight_crops)
    assert all(len(r.faces) >= 1 for r in results)
    assert all(r.padded_retry for r, n in zip(results, missed.counts(), strict=True) if n == 0)
    for result, crop in zip(results, tight_crops, strict=True):
        x1, y1, x2, y2 = result.faces[0].box
        assert (x1 + x2) / 2 == pytest.approx(crop.shape[1] / 2, abs=crop.shape[1] * 0.2)
        assert (y1 + y2) / 2 == pytest.approx(crop.shape[0] / 2, abs=crop.shape[0] * 0.2)


def test_aligned_112px_crop_is_found(engines: dict[str, FaceEngine], faces_dir: Path) -> None:
    image = read_image_file(faces_dir / "scenes" / "Tom_Hanks_54745.png").pixels
    for pack in ONNX_PACKS:
        [found] = engines[pack].analyse([image])
        assert len(found.faces) == 1, pack


@pytest.mark.parametrize("pack", ALL_PACKS)
def test_exif_rotated_photo_is_analysed_upright(engines: dict[str, FaceEngine], faces_dir: Path, pack: str) -> None:
    upright = Image.open(faces_dir / "people" / "fr_obama" / "examples__obama2.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned clockwise; viewers rotate it back
    stored = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_270).save(stored, format="JPEG", quality=95, exif=exif)
    [rotated] = engines[pack].analyse([decode_image(stored.getvalue()).pixels])
    [reference] = engines[pack].analyse([np.asarray(upright)])
    assert len(rotated.faces) == len(reference.faces) >= 1
    face = rotated.faces[0]
    eyes_y, mouth_y = face.landmarks[:2, 1].mean(), face.landmarks[3:, 1].mean()
    if pack != "dlib":  # dlib's five points are eye corners and the nose base
        assert eyes_y < mouth_y
    np.testing.assert_allclose(face.box, reference.faces[0].box, atol=6)
    assert float(face.embedding @ reference.faces[0].embedding) > 0.95


def test_empty_batch_and_tiny_image(engines: dict[str, FaceEngine]) -> None:
    for engine in engines.values():
        assert engine.analyse([]) == []
        [tiny] = engine.analyse([np.zeros((1, 1, 3), np.uint8)])
        assert tiny.faces == ()
