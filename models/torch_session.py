"""torch backend: the same ONNX graph converted by onnx2torch; fp16 + channels_last on CUDA.

``run`` takes and gives numpy like ``OrtSession``; ``forward`` takes and gives tensors on the
session's device, for the device path (``pipeline.device``), which never leaves it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

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
    ``half`` is False; on the CPU everything stays float32. ``run``'s outputs are float32.
    ``compiled``: on CUDA, run the module through ``torch.compile``; a graph it cannot compile
    runs eager instead (logged once). Ignored on the CPU, where compiling costs more than it saves.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        *,
        device: str = "cpu",
        half: bool | None = None,
        name: str = "model",
        compiled: bool = False,
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
        self._compiled: Any = torch.compile(module) if compiled and self._device.type == "cuda" else None
        self.name = name
        initializers = {init.name for init in model.graph.initializer}
        self.input_names = tuple(i.name for i in model.graph.input if i.name not in initializers)
        self.output_names = tuple(o.name for o in model.graph.output)
        precision = "fp16" if self._half else "fp32"
        compiling = " compiled" if self._compiled is not None else ""
        self.description = f"torch {torch.__version__} {self._device} {precision}{compiling}"
        logger.info("%s runs on %s", name, self.description)

    @property
    def device(self) -> Any:
        """The ``torch.device`` the module runs on."""
        return self._device

    @property
    def dtype(self) -> Any:
        """The ``torch.dtype`` the module takes: float16 or float32."""
        return self._torch.float16 if self._half else self._torch.float32

    def run(self, inputs: Mapping[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        torch = self._torch
        tensors = [torch.from_numpy(np.ascontiguousarray(inputs[name])) for name in self.input_names]
        return [out.float().cpu().numpy() for out in self.forward(*tensors)]

    def forward(self, *inputs: Any) -> list[Any]:
        """The module's outputs (tensors on its device, in its precision) for input tensors in graph order."""
        torch = self._torch
        tensors = []
        for tensor in inputs:
            tensor = tensor.to(self._device, dtype=self.dtype, non_blocking=True)
            if tensor.ndim == 4 and self._device.type == "cuda":
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            tensors.append(tensor)
        with torch.inference_mode():
            outputs = self._call(tensors)
        return [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)

    def _call(self, tensors: list[Any]) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(*tensors)
            except Exception as error:  # a graph torch.compile cannot take must cost speed, never results
                logger.warning("%s: torch.compile failed (%s); running eager", self.name, type(error).__name__)
                self._compiled = None
        return self._module(*tensors)
