"""Open an ONNX file on the configured backend, batchable."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from models.errors import ModelFileError
from models.graph import make_batchable
from models.ort_session import CPU, CUDA, OrtSession
from models.session import RuntimeOptions, Session
from models.torch_session import TorchSession


def load_onnx(path: Path) -> onnx.ModelProto:
    """Parse an ONNX file, with a clear error for a missing or broken one."""
    try:
        return onnx.load(str(path))
    except FileNotFoundError as exc:
        raise ModelFileError(f"model file not found: {path}") from exc
    except (OSError, DecodeError, ValueError) as exc:
        raise ModelFileError(f"not a readable ONNX model: {path}: {exc}") from exc


def open_session(path: Path, options: RuntimeOptions) -> Session:
    """Load ``path``, rewrite a fixed batch of 1 into a free batch, start it on ``options``."""
    model = make_batchable(load_onnx(path))
    name = path.name
    if options.backend == "torch":
        return TorchSession(model, device=options.device, half=options.half, name=name)
    providers = options.providers or ((CUDA, CPU) if options.device == "cuda" else (CPU,))
    return OrtSession(model, providers=providers, threads=options.threads, name=name)
