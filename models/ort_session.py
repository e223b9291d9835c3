"""onnxruntime backend: explicit providers, and no silent fallback to the CPU."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray

from models.errors import ModelFileError, ProviderUnavailableError

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


class OrtSession:
    """An ``onnxruntime.InferenceSession`` that refuses to run on fewer providers than asked for.

    onnxruntime quietly drops a GPU provider it cannot load (missing CUDA/cuDNN, CPU-only
    wheel) and runs everything on the CPU; here that is an error naming what is missing.
    """

    def __init__(
        self, model: onnx.ModelProto, *, providers: Sequence[str], threads: int = 0, name: str = "model"
    ) -> None:
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise ProviderUnavailableError(
                f"{name}: onnxruntime offers {available}, not {missing} "
                "(install onnxruntime-gpu and the matching CUDA libraries for a GPU)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning worker threads of one session steal the cores the next session needs
        # (detector and embedder alternate); sleeping between runs costs far less.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(model.SerializeToString(), options, providers=list(providers))
        except (RuntimeError, ort.capi.onnxruntime_pybind11_state.Fail) as exc:
            raise ModelFileError(f"{name}: onnxruntime cannot load the model: {exc}") from exc
        granted = self._session.get_providers()
        dropped = [p for p in providers if p not in granted]
        if dropped:
            raise ProviderUnavailableError(
                f"{name}: asked for {list(providers)} but onnxruntime started only {granted}"
            )
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        self.description = f"onnxruntime {'+'.join(granted)}"
        logger.info("%s runs on %s", name, self.description)

    def run(self, inputs: Mapping[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        return self._session.run(None, dict(inputs))
