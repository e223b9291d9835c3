"""Mirrored embeddings: a face and its mirror image embedded together, the same on every runtime."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from models.embedder import MirroredEmbedder
from models.manifest import load_manifest
from models.registry import PackSources, load_embedder, load_engine, resolve_pack
from models.session import RuntimeOptions
from pipeline.decode import read_image_file
from pipeline.types import AlignedFaces
from tests.models.test_packs import MANIFEST


@pytest.fixture(scope="module")
def crops(shared: Path) -> AlignedFaces:
    """Aligned faces of a few photos of ../shared/faces, cut for the shared MobileFaceNet."""
    engine = load_engine(resolve_pack("shared-scrfd", PackSources()))
    photos = sorted((shared / "faces" / "people" / "fr_obama").iterdir())[:3]
    return engine.locator.locate([read_image_file(photo).pixels for photo in photos]).aligned


def test_a_face_and_its_mirror_image_embed_alike(shared: Path, tmp_path: Path, crops: AlignedFaces) -> None:
    manifest = tmp_path / "mine.toml"
    text = MANIFEST.format(root=shared / "models")
    manifest.write_text(text.replace("embedding_size = 128", "embedding_size = 128\nmirrored = true"))
    pack = load_manifest(manifest)
    assert pack.embedder.mirrored
    embedder = load_embedder(pack)
    assert isinstance(embedder, MirroredEmbedder) and "mirror" in embedder.description
    flipped = AlignedFaces(np.ascontiguousarray(crops.crops[:, :, ::-1]), crops.image_index)
    np.testing.assert_allclose(embedder.embed(flipped), embedder.embed(crops), atol=1e-5)
    plain = load_embedder(dataclasses.replace(pack, embedder=dataclasses.replace(pack.embedder, mirrored=False)))
    assert not isinstance(plain, MirroredEmbedder)
    assert np.max(np.abs(plain.embed(flipped) - plain.embed(crops))) > 1e-2, "without it, the two differ"


def test_the_device_embedder_mirrors_as_onnxruntime_does(shared: Path, crops: AlignedFaces) -> None:
    pytest.importorskip("onnx2torch", reason="the device path needs the torch extra: pip install 'surasmart[torch]'")
    from models.device import load_device_embedder

    base = resolve_pack("shared-scrfd", PackSources())
    pack = dataclasses.replace(base, embedder=dataclasses.replace(base.embedder, mirrored=True))
    on_ort = load_embedder(pack).embed(crops)
    on_device = load_device_embedder(pack, RuntimeOptions(backend="torch", device="cpu")).embed(crops)
    assert np.all(np.sum(on_ort * on_device, axis=1) > 0.9999)
    plain = load_embedder(base).embed(crops)
    assert np.all(np.sum(plain * on_device, axis=1) < 0.9999), "the mirror images were embedded too"


def test_the_default_pack_mirrors(shared: Path) -> None:
    assert resolve_pack("dlib", PackSources()).embedder.mirrored
