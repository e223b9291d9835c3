"""The device path end to end against the CPU path: same faces, same embeddings, same top-1 case.

On the CPU the device path runs in fp32 (what CI checks); the ``gpu`` tests run it in fp16 on
CUDA against the same CPU results.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx2torch", reason="the device path needs the torch extra: pip install 'surasmart[torch]'")

import torch

from models.device import load_device_engine, load_device_locator
from models.dlib_pack import DlibFaceDetector, dlib_pack
from models.errors import ProviderUnavailableError
from models.registry import PackSources, load_engine, load_locator, load_photo_locator, resolve_pack
from models.session import RuntimeOptions
from pipeline.decode import decode_image
from pipeline.device.decode import decode_on_device
from pipeline.device.engine import DeviceEngine
from pipeline.device.match import DeviceCaseGallery
from pipeline.errors import ImageError
from pipeline.gallery import CaseGallery, GalleryFace
from pipeline.photos import PhotoFaces
from pipeline.types import ImageFaces

TORCH_CPU = RuntimeOptions(backend="torch", device="cpu")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """These tests check results, not speed: on a shared two-core runner torch's thread pool spins
    against other processes (this module's photos took 83 s on two threads, 9 s on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photos(faces_dir: Path) -> dict[str, bytes]:
    """Every photo of ../shared/faces (tight crops, grey, WebP, multi-face scenes), by its path there."""
    paths = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    return {p.relative_to(faces_dir).as_posix(): p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def on_cpu(photos: dict[str, bytes]) -> list[ImageFaces]:
    """The CPU path (Pillow, numpy, onnxruntime) on every photo."""
    engine = load_engine(resolve_pack("shared-scrfd", PackSources()))
    return engine.analyse([decode_image(data).pixels for data in photos.values()])


@pytest.fixture(scope="module")
def on_device(photos: dict[str, bytes]) -> list[ImageFaces]:
    """The device path (torchvision decoding, torch steps, onnx2torch networks in fp32) on the CPU."""
    engine = load_device_engine(resolve_pack("shared-scrfd", PackSources()), TORCH_CPU)
    found = engine.analyse_photos(list(photos.values()))
    assert not any(isinstance(f, ImageError) for f in found)
    return [f for f in found if isinstance(f, ImageFaces)]


def test_the_device_path_finds_the_same_faces(photos: dict[str, bytes], on_cpu: list, on_device: list) -> None:
    assert len(photos) >= 90 and sum(len(r.faces) for r in on_cpu) >= 100
    cosine = _assert_same_faces(on_device, on_cpu, list(photos))
    assert cosine.min() >= 0.999


def test_the_device_path_ranks_the_same_case_first(photos: dict[str, bytes], on_cpu: list, on_device: list) -> None:
    reference = _top_cases(list(photos), on_cpu, CaseGallery())
    ours = _top_cases(list(photos), on_device, DeviceCaseGallery("cpu"))
    assert len(ours) >= 60 and ours == reference
    assert np.mean([top == identity for identity, top in ours]) >= 0.8  # a gallery that works


def test_yunet_on_the_device_finds_the_same_faces(faces_dir: Path) -> None:
    pack = resolve_pack("shared-yunet", PackSources())
    paths = sorted((faces_dir / "scenes").iterdir())
    images = [decode_image(p.read_bytes()).pixels for p in paths]
    ours = load_device_engine(pack, TORCH_CPU).analyse(images)  # numpy in, as ``sura faces`` calls it
    cosine = _assert_same_faces(ours, load_engine(pack).analyse(images), [p.name for p in paths])
    assert len(cosine) >= 20 and cosine.min() >= 0.999


def test_photo_locators_of_both_paths_agree(photos: dict[str, bytes]) -> None:
    pack = resolve_pack("shared-scrfd", PackSources())
    batch = [photos["scenes/t1.jpg"], b"", photos["scenes/Tom_Hanks_54745.png"], photos["scenes/fr_two_people.jpg"]]
    expected = load_photo_locator(pack).locate_photos(batch)
    ours = load_device_locator(pack, TORCH_CPU).locate_photos(batch)
    assert [type(p) for p in ours] == [type(p) for p in expected]
    for mine, theirs in zip(ours, expected, strict=True):
        if isinstance(mine, PhotoFaces) and isinstance(theirs, PhotoFaces):
            assert (mine.format, mine.notes) == (theirs.format, theirs.notes)
            assert len(mine.located.faces.faces) == len(theirs.located.faces.faces) > 0
            difference = np.abs(mine.located.crops.astype(int) - theirs.located.crops.astype(int))
            assert difference.mean() < 0.5


def test_cuda_asks_for_the_device_path(shared: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the gpu tests cover it")
    pack = resolve_pack("shared-scrfd", PackSources())
    with pytest.raises(ProviderUnavailableError, match="torch sees no CUDA"):  # torch, not onnxruntime
        load_engine(pack, RuntimeOptions(device="cuda"))
    with pytest.raises(ProviderUnavailableError, match="CUDAExecutionProvider"):  # named providers keep onnxruntime
        load_locator(pack, RuntimeOptions(device="cuda", providers=("CUDAExecutionProvider",)))
    assert isinstance(load_locator(dlib_pack(), RuntimeOptions(device="cuda")).detector, DlibFaceDetector)


@pytest.mark.gpu
def test_gpu_fp16_path_matches_the_cpu(photos: dict[str, bytes], on_cpu: list) -> None:
    engine = load_engine(resolve_pack("shared-scrfd", PackSources()), RuntimeOptions(backend="torch", device="cuda"))
    assert isinstance(engine, DeviceEngine) and "fp16" in engine.description
    found = engine.analyse_photos(list(photos.values()))
    ours = [f for f in found if isinstance(f, ImageFaces)]
    assert len(ours) == len(photos)
    cosine = _assert_same_faces(ours, on_cpu, list(photos))
    assert cosine.min() >= 0.999
    assert _top_cases(list(photos), ours, DeviceCaseGallery("cuda")) == _top_cases(list(photos), on_cpu, CaseGallery())


@pytest.mark.gpu
def test_gpu_jpeg_decoding_is_close_to_pillow(photos: dict[str, bytes]) -> None:
    jpegs = [data for name, data in photos.items() if name.startswith("scenes/") and name.endswith(".jpg")]
    for ours, data in zip(decode_on_device(jpegs, torch.device("cuda")), jpegs, strict=True):
        expected = decode_image(data).pixels
        assert not isinstance(ours, ImageError) and ours.pixels.is_cuda
        difference = np.abs(ours.pixels.cpu().numpy().astype(int) - expected.astype(int))
        assert difference.mean() < 1.0


def _assert_same_faces(ours: list[ImageFaces], expected: list[ImageFaces], names: list[str]) -> np.ndarray:
    """Same face count and retry per image, each face matched at IoU ≥ 0.9; the embeddings' cosines."""
    cosines = []
    for name, mine, theirs in zip(names, ours, expected, strict=True):
        assert len(mine.faces) == len(theirs.faces), name
        assert mine.padded_retry == theirs.padded_retry, name
        for face in theirs.faces:
            overlap = [_iou(face.box, other.box) for other in mine.faces]
            best = mine.faces[int(np.argmax(overlap))]
            assert max(overlap) >= 0.9, name
            if face.embedding is not None and best.embedding is not None:
                cosines.append(float(face.embedding @ best.embedding))
    return np.array(cosines)


def _top_cases(names: list[str], results: list[ImageFaces], gallery: CaseGallery) -> list[tuple[str, str]]:
    """Per probe photo of people/: (its identity, the identity ranked first); an identity's first photo is its case."""
    identities: dict[str, uuid.UUID] = {}
    probes: list[tuple[str, np.ndarray]] = []
    for name, result in zip(names, results, strict=True):
        parts = name.split("/")
        if parts[0] != "people" or not result.faces:
            continue
        vector = max(result.faces, key=lambda f: f.size).embedding
        assert vector is not None
        if parts[1] in identities:
            probes.append((parts[1], vector))
        else:
            identities[parts[1]] = uuid.uuid4()
            gallery.add(GalleryFace(uuid.uuid4(), identities[parts[1]], vector))
    names_of = {case: identity for identity, case in identities.items()}
    found = gallery.search(np.stack([vector for _, vector in probes]), 1)
    return [(identity, names_of[hits[0][0]]) for (identity, _), hits in zip(probes, found, strict=True)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))
