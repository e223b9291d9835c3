"""ONNX face detectors (SCRFD, YuNet): letterbox a batch, run it once, decode it once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelOutputError
from models.packs import DetectorSpec
from models.session import Session
from pipeline.detect import DetectionParams
from pipeline.letterbox import letterbox, to_blob, trimmed_canvas
from pipeline.types import Detections

Decoder = Callable[[Sequence[NDArray[np.float32]], tuple[int, int], NDArray[np.float32], DetectionParams], Detections]


@dataclass(frozen=True)
class OutputLayout:
    """What a detector network returns: how many outputs, and the decoder that reads them."""

    outputs: int
    decode: Decoder


class OnnxFaceDetector:
    """Finds faces with an anchor-free ONNX detector, a whole batch per network call.

    layout: chosen by the registry from the spec's kind, so this class knows no kinds.
    """

    def __init__(self, spec: DetectorSpec, session: Session, layout: OutputLayout) -> None:
        if len(session.output_names) != layout.outputs:
            raise ModelOutputError(
                f"a {spec.kind} detector has {layout.outputs} outputs; "
                f"{spec.file.path.name} has {len(session.output_names)}"
            )
        self.spec = spec
        self.session = session
        self.layout = layout
        self.description = session.description

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> Detections:
        """Faces of each (H, W, 3) uint8 RGB image, in original pixel coordinates.

        With a trimmed canvas, images are run in groups of equal canvas size, so each image
        gets the input it would get alone: a batch finds the same faces as single calls.
        """
        size = self.spec.input_size
        if self.spec.canvas == "square":
            return self._run(images, size)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[trimmed_canvas(image.shape, size)].append(index)
        parts = [
            self._run([images[i] for i in members], canvas).reindexed(np.asarray(members, np.int64), len(images))
            for canvas, members in groups.items()
        ]
        return Detections.merge(parts, len(images))

    def _run(self, images: Sequence[NDArray[np.uint8]], canvas: tuple[int, int]) -> Detections:
        if not images:
            return Detections.empty(0)
        boxed = letterbox(images, self.spec.input_size, canvas)
        pre = self.spec.preprocess
        blob = to_blob(boxed.canvas, mean=pre.mean, std=pre.std, bgr=pre.bgr)
        outputs = self.session.run({self.session.input_names[0]: blob})
        if any(out.ndim != 3 or len(out) != len(images) for out in outputs):
            raise ModelOutputError(
                f"{self.spec.file.path.name} returned {[o.shape for o in outputs]} for a batch of "
                f"{len(images)}; expected (batch, anchors, channels)"
            )
        return self.layout.decode(outputs, canvas, boxed.scale, self.spec.params)
