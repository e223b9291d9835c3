"""Runtimes: torch (via onnx2torch) agrees with onnxruntime; a missing GPU is an error, never a fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import ProviderUnavailableError
from models.registry import PackSources, load_engine, resolve_pack
from models.runtime import load_onnx, open_session
from models.session import RuntimeOptions
from pipeline.engine import FaceEngine
from pipeline.letterbox import letterbox, to_blob

pytest.importorskip("onnx2torch", reason="the torch backend is an optional extra: pip install 'surasmart[torch]'")


@pytest.mark.parametrize("file", ["scrfd_500m_bnkps.onnx", "scrfd_2.5g_bnkps.onnx", "yunet_2023mar.onnx"])
def test_torch_detector_outputs_match_onnxruntime(shared: Path, t1: np.ndarray, file: str) -> None:
    path = shared / "models" / file
    blob = to_blob(letterbox([t1, t1[::3, ::3].copy()], (640, 640)).canvas, mean=127.5, std=128.0, bgr=False)
    ort_out = open_session(path, RuntimeOptions()).run({"input.1" if "scrfd" in file else "input": blob})
    torch_session = open_session(path, RuntimeOptions(backend="torch"))
    torch_out = torch_session.run({torch_session.input_names[0]: blob})
    assert len(torch_out) == len(ort_out)
    for ours, reference in zip(torch_out, ort_out, strict=True):
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() <= 1e-3


def test_torch_embeddings_match_onnxruntime(engines: dict[str, FaceEngine], t1: np.ndarray) -> None:
    reference = engines["shared-scrfd"]
    torch_engine = load_engine(resolve_pack("shared-scrfd", PackSources()), RuntimeOptions(backend="torch"))
    assert torch_engine.description.startswith("torch")
    detections = reference.detector.detect([t1])
    aligned = reference.locator.aligner.align([t1], detections)
    cosine = np.sum(reference.embed(aligned) * torch_engine.embed(aligned), axis=1)
    assert len(cosine) == 6 and cosine.min() >= 0.9999


def test_missing_gpu_provider_is_an_error_not_a_fallback(shared: Path) -> None:
    path = shared / "models" / "mobilefacenet.onnx"
    with pytest.raises(ProviderUnavailableError, match="CUDAExecutionProvider"):
        open_session(path, RuntimeOptions(device="cuda"))
    with pytest.raises(ProviderUnavailableError, match="NoSuchExecutionProvider"):
        open_session(path, RuntimeOptions(providers=("NoSuchExecutionProvider", "CPUExecutionProvider")))


def test_torch_without_cuda_is_an_error(shared: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ProviderUnavailableError, match="CUDA"):
        open_session(shared / "models" / "mobilefacenet.onnx", RuntimeOptions(backend="torch", device="cuda"))


def test_onnx_model_is_checked_before_use(tmp_path: Path) -> None:
    from models.errors import ModelFileError

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelFileError):
        open_session(broken, RuntimeOptions())
    with pytest.raises(ModelFileError, match="not found"):
        load_onnx(tmp_path / "absent.onnx")


@pytest.mark.gpu
@pytest.mark.parametrize("pack", ["shared-scrfd", "shared-yunet"])
def test_gpu_fp16_matches_cpu(t1: np.ndarray, engines: dict[str, FaceEngine], pack: str) -> None:
    gpu = load_engine(resolve_pack(pack, PackSources()), RuntimeOptions(backend="torch", device="cuda"))
    [on_gpu] = gpu.analyse([t1])
    [on_cpu] = engines[pack].analyse([t1])
    assert len(on_gpu.faces) == len(on_cpu.faces) == 6
    for a, b in zip(on_gpu.faces, on_cpu.faces, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=2.0)
        assert float(a.embedding @ b.embedding) > 0.995


def test_fp16_path_finds_the_same_faces_on_cpu(engines: dict[str, FaceEngine], t1: np.ndarray) -> None:
    """The GPU's precision (fp16 weights and inputs), exercised where no GPU is present."""
    half = load_engine(resolve_pack("shared-scrfd", PackSources()), RuntimeOptions(backend="torch", half=True))
    assert "fp16" in half.description
    [ours] = half.analyse([t1])
    [reference] = engines["shared-scrfd"].analyse([t1])
    assert len(ours.faces) == len(reference.faces) == 6
    for a, b in zip(ours.faces, reference.faces, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=2.0)
        assert float(a.embedding @ b.embedding) > 0.995
