"""The registry builds each pack from one table per kind, and refuses kinds no table knows."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import pytest

from models.detector import OnnxFaceDetector
from models.dlib_pack import DlibChipAligner, DlibFaceDetector, DlibFaceEmbedder, dlib_pack
from models.embedder import MirroredEmbedder, OnnxFaceEmbedder
from models.errors import UnknownKindError
from models.packs import DetectorKind, EmbedderKind, ModelPack
from models.registry import PackSources, load_embedder, load_engine, load_locator, resolve_pack
from pipeline.align import ArcFaceAligner
from pipeline.detect import decode_scrfd, decode_yunet


def _onnx_pack(name: str) -> ModelPack:
    return resolve_pack(name, PackSources(allow_download=False))


def _with_detector_kind(pack: ModelPack, kind: str) -> ModelPack:
    return replace(pack, detector=replace(pack.detector, kind=cast(DetectorKind, kind)))


def _with_embedder_kind(pack: ModelPack, kind: str) -> ModelPack:
    return replace(pack, embedder=replace(pack.embedder, kind=cast(EmbedderKind, kind)))


@pytest.mark.usefixtures("shared")
@pytest.mark.parametrize("kind", ["retina", "SCRFD", ""])
def test_an_unknown_detector_kind_is_refused(kind: str) -> None:
    pack = _with_detector_kind(_onnx_pack("shared-scrfd"), kind)
    with pytest.raises(UnknownKindError, match=rf"detector kind {kind!r}.*dlib-hog, scrfd, yunet"):
        load_locator(pack)
    with pytest.raises(UnknownKindError, match="detector kind"):
        load_engine(pack)


def test_an_unknown_detector_kind_is_refused_for_dlib_too() -> None:
    with pytest.raises(UnknownKindError, match="detector kind 'cnn'"):
        load_locator(_with_detector_kind(dlib_pack(), "cnn"))


@pytest.mark.usefixtures("shared")
def test_an_unknown_embedder_kind_is_refused() -> None:
    pack = _with_embedder_kind(_onnx_pack("shared-scrfd"), "facenet")
    with pytest.raises(UnknownKindError, match=r"embedder kind 'facenet'.*arcface, dlib-resnet"):
        load_embedder(pack)
    # The aligner depends on the embedder, so the locator refuses the pack as well.
    with pytest.raises(UnknownKindError, match="embedder kind 'facenet'"):
        load_locator(pack)
    with pytest.raises(UnknownKindError, match="embedder kind 'facenet'"):
        load_embedder(_with_embedder_kind(dlib_pack(), "facenet"))


@pytest.mark.usefixtures("shared")
@pytest.mark.parametrize(
    ("name", "decode", "outputs"), [("shared-scrfd", decode_scrfd, 9), ("shared-yunet", decode_yunet, 12)]
)
def test_onnx_detectors_get_the_decoder_of_their_kind(name: str, decode: object, outputs: int) -> None:
    engine = load_engine(_onnx_pack(name))
    detector = engine.detector
    assert isinstance(detector, OnnxFaceDetector)
    assert detector.layout.decode is decode and detector.layout.outputs == outputs
    assert isinstance(engine.locator.aligner, ArcFaceAligner)
    assert isinstance(engine.embedder, OnnxFaceEmbedder) and engine.embedder.embedding_size == 128


def test_the_dlib_pack_still_loads() -> None:
    engine = load_engine(dlib_pack())
    assert isinstance(engine.detector, DlibFaceDetector)
    assert isinstance(engine.locator.aligner, DlibChipAligner)
    embedder = engine.embedder
    assert isinstance(embedder, MirroredEmbedder) and isinstance(embedder.inner, DlibFaceEmbedder)
    assert embedder.embedding_size == 128
