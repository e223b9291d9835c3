"""torch backend: the same ONNX graph converted by onnx2torch; fp16 + channels_last on CUDA."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

import numpy as np
import onnx
from numpy.typing import NDArray

from models.errors import BackendUnavailableError, ProviderUnavailableError

logger = logging.getLogger(__name__)

# onnx2torch's Slice indexes with a list, which torch deprecates loudly on every call.
warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)


class TorchSession:
    """An ONNX model run by torch, with numpy in and out like ``OrtSession``.

    On CUDA the weights and inputs are fp16 and 4-d inputs are channels_last unless
    ``half`` is False; on the CPU everything stays float32. Outputs are always float32.
    """

    def __init__(
        self, model: onnx.ModelProto, *, device: str = "cpu", half: bool | None = None, name: str = "model"
    ) -> None:
        try:
            import onnx2torch
            import torch
        except ImportError as exc:
            raise BackendUnavailableError(
                "the torch backend needs torch, torchvision and onnx2torch: pip install 'surasmart[torch]'"
            ) from exc
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderUnavailableError(f"{name}: torch sees no CUDA device")
        self._torch = torch
        self._device = torch.device(device)
        self._half = self._device.type == "cuda" if half is None else half
        module = onnx2torch.convert(model).eval().to(self._device)
        if self._half:
            module = module.half()
        if self._device.type == "cuda":
            module = module.to(memory_format=torch.channels_last)
        self._module = module
        initializers = {init.name for init in model.graph.initializer}
        self.input_names = tuple(i.name for i in model.graph.input if i.name not in initializers)
        self.output_names = tuple(o.name for o in model.graph.output)
        precision = "fp16" if self._half else "fp32"
        self.description = f"torch {torch.__version__} {self._device} {precision}"
        logger.info("%s runs on %s", name, self.description)

    def run(self, inputs: Mapping[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        torch = self._torch
        tensors = []
        for name in self.input_names:
            tensor = torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self._device, non_blocking=True)
            if self._half:
                tensor = tensor.half()
            if tensor.ndim == 4 and self._device.type == "cuda":
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            tensors.append(tensor)
        with torch.inference_mode():
            outputs = self._module(*tensors)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return [out.float().cpu().numpy() for out in outputs]
