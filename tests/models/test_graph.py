"""Fixed-batch graphs rewritten to take any batch, with outputs identical to single runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models.graph import has_fixed_batch, make_batchable


def _run(model: onnx.ModelProto, batch: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})


@pytest.mark.parametrize(
    ("file", "size"), [("mobilefacenet.onnx", 112), ("yunet_2023mar.onnx", 640), ("scrfd_2.5g_bnkps.onnx", 640)]
)
def test_rewritten_batch_equals_single_runs(shared: Path, file: str, size: int) -> None:
    original = onnx.load(str(shared / "models" / file))
    assert has_fixed_batch(original)
    batchable = make_batchable(original)
    assert not has_fixed_batch(batchable)
    batch = np.random.default_rng(1).normal(size=(3, 3, size, size)).astype(np.float32)
    together = _run(batchable, batch)
    for i in range(3):
        alone = _run(original, batch[i : i + 1])
        for joint, single in zip(together, alone, strict=True):
            assert joint.shape[0] == 3
            np.testing.assert_array_equal(joint[i], single.reshape(joint[i].shape))


def test_already_batchable_graph_is_left_alone(shared: Path) -> None:
    model = onnx.load(str(shared / "models" / "scrfd_500m_bnkps.onnx"))
    assert make_batchable(model) is model
