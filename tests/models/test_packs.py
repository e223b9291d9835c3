"""Packs: manifests are checked with errors that say where; files are checked by sha256."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelFileError, PackManifestError, PackNotFoundError
from models.manifest import load_manifest
from models.packs import Calibration, ModelFile
from models.registry import PackSources, pack_names, resolve_pack

MANIFEST = """
name = "mine"
root = "{root}"
[detector]
kind = "scrfd"
file = "scrfd_500m_bnkps.onnx"
[embedder]
kind = "arcface"
file = "mobilefacenet.onnx"
embedding_size = 128
[calibration]
source = "test"
thresholds = [[1e-2, 0.3], [1e-3, 0.4]]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_manifest_resolves_files_relative_to_itself(tmp_path: Path, shared: Path) -> None:
    pack = load_manifest(_write(tmp_path, MANIFEST.format(root=shared / "models")))
    assert pack.name == "mine" and pack.embedding_size == 128
    assert pack.detector.file.verified() == shared / "models" / "scrfd_500m_bnkps.onnx"
    assert pack.detector.preprocess.mean == 127.5 and not pack.detector.preprocess.bgr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "scrfd"', 'kind = "retina"'), "'detector.kind' must be one of scrfd, yunet"),
        (("embedding_size = 128", ""), "'embedder.embedding_size' is missing"),
        (("embedding_size = 128", 'embedding_size = "128"'), "'embedder.embedding_size' must be int"),
        (("[[1e-2, 0.3], [1e-3, 0.4]]", "[[0, 0.3]]"), "'calibration.thresholds' needs at least one pair"),
        (("[[1e-2, 0.3], [1e-3, 0.4]]", '["x"]'), "'calibration.thresholds' must be a list of"),
        (('name = "mine"', "name = ["), "not a readable TOML manifest"),
        (
            ('file = "scrfd_500m_bnkps.onnx"', 'file = "scrfd_500m_bnkps.onnx"\ninput_size = [600]'),
            "'detector.input_size' must be [width, height]",
        ),
    ],
)
def test_bad_manifests_name_the_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = MANIFEST.format(root="models").replace(*change)
    with pytest.raises(PackManifestError, match=message.replace("[", r"\[")):
        load_manifest(_write(tmp_path, text))


def test_wrong_sha256_is_refused(shared: Path) -> None:
    wrong = ModelFile(shared / "models" / "mobilefacenet.onnx", "0" * 64)
    with pytest.raises(ModelFileError, match="sha256"):
        wrong.verified()
    with pytest.raises(ModelFileError, match="not found"):
        ModelFile(shared / "models" / "absent.onnx").verified()


def test_calibration_interpolates_on_a_log_scale() -> None:
    calibration = Calibration(points=((1e-3, 0.4), (1e-1, 0.2), (1e-2, 0.3)), source="test")
    assert calibration.threshold() == pytest.approx(0.4)
    assert calibration.threshold(10**-2.5) == pytest.approx(0.35)
    far = calibration.false_accept_rate(np.array([0.1, 0.3, 0.35, 0.9]))
    np.testing.assert_allclose(far, [1e-1, 1e-2, 10**-2.5, 1e-3])


def test_registry_knows_every_pack_and_refuses_unknown_ones(tmp_path: Path) -> None:
    sources = PackSources(cache_dir=tmp_path, allow_download=False)
    names = pack_names(sources)
    assert names[0] == "dlib" and {"shared-scrfd", "buffalo_l", "buffalo_s", "antelopev2"} <= set(names)
    with pytest.raises(PackNotFoundError, match="no model pack named 'nope'"):
        resolve_pack("nope", sources)
    with pytest.raises(PackNotFoundError, match="downloads are turned off"):
        resolve_pack("buffalo_l", sources)


def test_shared_manifests_match_the_files_they_name(shared: Path) -> None:
    for name in ("shared-scrfd", "shared-scrfd-2.5g", "shared-yunet"):
        pack = resolve_pack(name, PackSources())
        pack.detector.file.verified()
        pack.embedder.file.verified()
        assert pack.calibration.threshold() > pack.calibration.threshold(1e-1)
