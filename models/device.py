"""The device path's networks: SCRFD/YuNet and ArcFace-family embedders on torch tensors.

``load_device_engine`` / ``load_device_locator`` / ``load_device_embedder`` build what the
registry returns when the networks run on CUDA: photo bytes to embeddings on the device
(``pipeline.device``), the ONNX files converted by onnx2torch (fp16 on CUDA, fp32 on the CPU,
where CI tests the same code). Importing this module needs torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from models.embedder import graph_preprocess
from models.errors import ModelOutputError
from models.graph import make_batchable
from models.packs import DetectorSpec, EmbedderSpec, ModelPack, Preprocess
from models.runtime import load_onnx
from models.session import RuntimeOptions
from models.torch_session import TorchSession
from pipeline.device.detect import TensorDecoder, decode_scrfd_tensors, decode_yunet_tensors
from pipeline.device.engine import DeviceEngine, DeviceLocator, upload
from pipeline.device.letterbox import letterbox_tensors, normalise
from pipeline.device.types import DeviceDetections
from pipeline.engine import EngineOptions
from pipeline.letterbox import trimmed_canvas
from pipeline.types import AlignedFaces, Detections

# Detector kinds the device path decodes: their output count and decoder.
DEVICE_DETECTORS: dict[str, tuple[int, TensorDecoder]] = {
    "scrfd": (9, decode_scrfd_tensors),
    "yunet": (12, decode_yunet_tensors),
}


class TorchFaceDetector:
    """An anchor-free ONNX detector on torch tensors: letterbox, network, decoding and NMS on one device.

    Like ``OnnxFaceDetector``, images are run in groups of equal canvas size when the pack
    trims its canvas, so a batch finds the faces each image would give alone.
    """

    def __init__(self, spec: DetectorSpec, session: TorchSession, outputs: int, decode: TensorDecoder) -> None:
        if len(session.output_names) != outputs:
            raise ModelOutputError(
                f"a {spec.kind} detector has {outputs} outputs; {spec.file.path.name} has {len(session.output_names)}"
            )
        self.spec, self.session, self.decode = spec, session, decode
        self.device: torch.device = session.device
        self.description = session.description

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> Detections:
        return self.detect_tensors(upload(images, self.device)).to_host()

    def detect_tensors(self, images: Sequence[torch.Tensor]) -> DeviceDetections:
        """Faces of each (H, W, 3) uint8 RGB device image, in its pixel coordinates."""
        size = self.spec.input_size
        if self.spec.canvas == "square":
            return self._run(images, size)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[trimmed_canvas(tuple(image.shape), size)].append(index)
        parts = [
            self._run([images[i] for i in members], canvas).reindexed(
                torch.tensor(members, device=self.device), len(images)
            )
            for canvas, members in groups.items()
        ]
        return DeviceDetections.merge(parts, len(images), self.device)

    def _run(self, images: Sequence[torch.Tensor], canvas: tuple[int, int]) -> DeviceDetections:
        if not images:
            return DeviceDetections.empty(0, self.device)
        pre = self.spec.preprocess
        blob, scale = letterbox_tensors(
            images, self.spec.input_size, canvas, mean=pre.mean, std=pre.std, bgr=pre.bgr, dtype=self.session.dtype
        )
        outputs = self.session.forward(blob)
        if any(out.ndim != 3 or len(out) != len(images) for out in outputs):
            raise ModelOutputError(
                f"{self.spec.file.path.name} returned {[tuple(o.shape) for o in outputs]} for a batch of "
                f"{len(images)}; expected (batch, anchors, channels)"
            )
        return self.decode(outputs, canvas, scale, self.spec.params)


class TorchFaceEmbedder:
    """An ArcFace-family embedder on torch tensors: aligned crops in, unit vectors out, on one device."""

    def __init__(self, spec: EmbedderSpec, session: TorchSession, preprocess: Preprocess) -> None:
        self.spec, self.session, self.preprocess = spec, session, preprocess
        self.embedding_size = spec.embedding_size
        self.description = session.description

    def embed(self, faces: AlignedFaces) -> NDArray[np.float32]:
        """(F, D) unit-length embeddings of (F, S, S, 3) aligned RGB crops (numpy, as ``OnnxFaceEmbedder``)."""
        if len(faces) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        crops = torch.from_numpy(np.ascontiguousarray(faces.crops)).to(self.session.device).permute(0, 3, 1, 2)
        return self.embed_tensors(crops).cpu().numpy()

    def embed_tensors(self, crops: torch.Tensor) -> torch.Tensor:
        """(F, D) float32 unit-length embeddings of (F, 3, S, S) uint8 RGB crops on the device."""
        if len(crops) == 0:
            return torch.zeros((0, self.embedding_size), device=self.session.device)
        pre, count = self.preprocess, len(crops)
        if self.spec.mirrored:  # each face and its mirror image in one call, added (as ``MirroredEmbedder``)
            crops = torch.cat([crops, crops.flip(3)])
        blob = normalise(crops, mean=pre.mean, std=pre.std, bgr=pre.bgr, dtype=self.session.dtype)
        vectors = self.session.forward(blob)[0].float()
        if tuple(vectors.shape) != (len(crops), self.embedding_size):
            raise ModelOutputError(
                f"{self.spec.file.path.name} returned {tuple(vectors.shape)} for {len(crops)} faces; "
                f"expected ({len(crops)}, {self.embedding_size})"
            )
        if self.spec.mirrored:
            vectors = vectors[:count] + vectors[count:]
        return functional.normalize(vectors, dim=1, eps=1e-12)


def runs_on_device(pack: ModelPack) -> bool:
    """True when the device path knows the pack's detector and embedder kinds."""
    return pack.detector.kind in DEVICE_DETECTORS and pack.embedder.kind == "arcface"


def load_device_engine(pack: ModelPack, runtime: RuntimeOptions, options: EngineOptions | None = None) -> DeviceEngine:
    """The pack's networks on ``runtime.device``, with every pipeline step there too."""
    return DeviceEngine(load_device_locator(pack, runtime, options), load_device_embedder(pack, runtime))


def load_device_locator(
    pack: ModelPack, runtime: RuntimeOptions, options: EngineOptions | None = None
) -> DeviceLocator:
    """Detection, alignment and quality on ``runtime.device`` (decoding too, for photo bytes)."""
    outputs, decode = DEVICE_DETECTORS[pack.detector.kind]
    session = _session(pack.detector.file.verified(), runtime, compiled=False)  # SCRFD's graph does not compile
    detector = TorchFaceDetector(pack.detector, session, outputs, decode)
    return DeviceLocator(detector, pack.embedder.input_size, options)


def load_device_embedder(pack: ModelPack, runtime: RuntimeOptions) -> TorchFaceEmbedder:
    """The pack's embedder on ``runtime.device``, compiled on CUDA."""
    path = pack.embedder.file.verified()
    preprocess = pack.embedder.preprocess or graph_preprocess(load_onnx(path))
    return TorchFaceEmbedder(pack.embedder, _session(path, runtime, compiled=True), preprocess)


def _session(path: Path, runtime: RuntimeOptions, *, compiled: bool) -> TorchSession:
    model = make_batchable(load_onnx(path))
    return TorchSession(model, device=runtime.device, half=runtime.half, name=path.name, compiled=compiled)
