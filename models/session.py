"""One small protocol for running a network, whatever executes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

Backend = Literal["onnxruntime", "torch"]
Device = Literal["cpu", "cuda"]


class Session(Protocol):
    """A loaded network: named float32 arrays in, its outputs in graph order out."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    description: str

    def run(self, inputs: Mapping[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]: ...


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how networks run.

    providers: onnxruntime execution providers, in order; None picks from ``device``.
    threads: intra-op threads (0: the runtime's default, one per core).
    half: torch only; None means fp16 on CUDA and float32 on CPU.
    """

    backend: Backend = "onnxruntime"
    device: Device = "cpu"
    providers: tuple[str, ...] | None = None
    threads: int = 0
    half: bool | None = None
