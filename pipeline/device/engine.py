"""The face pipeline with every step on one device: photo bytes → faces, crops, quality, embeddings.

``DeviceLocator`` and ``DeviceEngine`` are a ``FaceLocator`` and a ``FaceEngine`` (numpy in,
numpy out, same results), and also take photo bytes, which they decode onto the device.
Between steps nothing leaves the device but face counts; only the results come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from pipeline.decode import DEFAULT_MAX_PIXELS, Mapper
from pipeline.device.align import align_tensors
from pipeline.device.decode import DeviceImage, decode_on_device, upload_pixels
from pipeline.device.letterbox import pad_tensors
from pipeline.device.quality import assess_quality_tensors
from pipeline.device.types import DeviceDetections
from pipeline.engine import EngineOptions, FaceEngine, FaceLocator, LocatedFaces, LocatedImage
from pipeline.errors import ImageError
from pipeline.photos import PhotoFaces
from pipeline.quality import FaceQuality
from pipeline.types import AlignedFaces, Detections, ImageFaces, check_batch


class TensorDetector(Protocol):
    """Finds faces in (H, W, 3) uint8 RGB images on its device (a ``FaceDetector`` too)."""

    description: str
    device: torch.device

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> Detections: ...

    def detect_tensors(self, images: Sequence[torch.Tensor]) -> DeviceDetections: ...


class TensorEmbedder(Protocol):
    """Embeds aligned (F, 3, S, S) uint8 crops on its device (a ``FaceEmbedder`` too)."""

    embedding_size: int
    description: str

    def embed(self, faces: AlignedFaces) -> NDArray[np.float32]: ...

    def embed_tensors(self, crops: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class DeviceLocated:
    """A batch's faces on the device: detections, (F, 3, S, S) uint8 crops; retried and quality on the host."""

    detections: DeviceDetections
    retried: NDArray[np.bool_]
    crops: torch.Tensor
    quality: FaceQuality

    def to_host(self) -> LocatedFaces:
        detections = self.detections.to_host()
        crops = self.crops.permute(0, 2, 3, 1).cpu().numpy()
        return LocatedFaces(detections, self.retried, AlignedFaces(crops, detections.image_index), self.quality)


class DeviceAligner:
    """``FaceAligner`` over numpy arrays that aligns on ``device`` (ArcFace template, ``size`` pixels)."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.size, self.device = size, device

    def align(self, images: Sequence[NDArray[np.uint8]], detections: Detections) -> AlignedFaces:
        check_batch("alignment input", detections.num_images, len(images))
        landmarks = torch.from_numpy(detections.landmarks).to(self.device)
        index = torch.from_numpy(detections.image_index).to(self.device)
        crops = align_tensors(upload(images, self.device), landmarks, index, self.size)
        return AlignedFaces(crops.permute(0, 2, 3, 1).cpu().numpy(), detections.image_index)


class DeviceLocator(FaceLocator):
    """Detection with the tight-crop retry, alignment and quality, all on the detector's device."""

    def __init__(self, detector: TensorDetector, crop_size: int = 112, options: EngineOptions | None = None) -> None:
        super().__init__(detector, DeviceAligner(crop_size, detector.device), options)
        self.device_detector = detector
        self.device = detector.device
        self.crop_size = crop_size
        self.description = detector.description

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> tuple[Detections, NDArray[np.bool_]]:
        found, retried = self.detect_tensors(upload(images, self.device))
        return found.to_host(), retried

    def locate(self, images: Sequence[NDArray[np.uint8]]) -> LocatedFaces:
        return self.locate_tensors(upload(images, self.device)).to_host()

    def locate_photos(
        self, photos: Sequence[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS, map_each: Mapper = map
    ) -> list[PhotoFaces | ImageError]:
        """Per photo: its faces, or the ``ImageError`` saying why it cannot be read (``PhotoLocator``)."""
        decoded = decode_on_device(photos, self.device, max_pixels=max_pixels, map_each=map_each)
        images = [d for d in decoded if isinstance(d, DeviceImage)]
        located = self.locate_tensors([d.pixels for d in images]).to_host()
        each = iter(per_photo(located, [(d.width, d.height) for d in images]))
        return [d if isinstance(d, ImageError) else PhotoFaces(next(each), d.format, d.notes) for d in decoded]

    def locate_tensors(self, images: Sequence[torch.Tensor]) -> DeviceLocated:
        """The faces of (H, W, 3) uint8 device images, aligned and assessed, still on the device."""
        detections, retried = self.detect_tensors(images)
        crops = align_tensors(images, detections.landmarks, detections.image_index, self.crop_size)
        quality = assess_quality_tensors(detections.boxes, detections.scores, crops)
        return DeviceLocated(detections, retried, crops, quality)

    def detect_tensors(self, images: Sequence[torch.Tensor]) -> tuple[DeviceDetections, NDArray[np.bool_]]:
        """Faces of every image, and (N,) which images needed the padded retry (as ``FaceLocator.detect``)."""
        found = self._detect_in_chunks(images)
        retried = np.zeros(len(images), dtype=bool)
        empty = np.flatnonzero(found.counts().cpu().numpy() == 0)
        if self.options.pad_ratio <= 0 or len(empty) == 0:
            return found, retried
        originals = [images[i] for i in empty.tolist()]
        padded, offsets = pad_tensors(originals, self.options.pad_ratio)
        again = self._detect_in_chunks(padded).shifted(offsets)
        sizes = torch.tensor([image.shape[1::-1] for image in originals], device=self.device)
        centre = (again.boxes[:, :2] + again.boxes[:, 2:]) / 2
        again = again.select(((centre >= 0) & (centre < sizes[again.image_index])).all(dim=1))
        retried[empty[np.unique(again.image_index.cpu().numpy())]] = True
        again = again.reindexed(torch.from_numpy(empty).to(self.device), len(images))
        return DeviceDetections.merge([found, again], len(images), self.device), retried

    def _detect_in_chunks(self, images: Sequence[torch.Tensor]) -> DeviceDetections:
        step, parts = self.options.detect_batch, []
        for start in range(0, len(images), step):
            chunk = self.device_detector.detect_tensors(images[start : start + step])
            check_batch("detection", len(images[start : start + step]), chunk.num_images)
            index = torch.arange(start, start + chunk.num_images, device=self.device)
            parts.append(chunk.reindexed(index, len(images)))
        return DeviceDetections.merge(parts, len(images), self.device)


class DeviceEngine(FaceEngine):
    """``FaceEngine`` whose crops go from alignment to the embedder without leaving the device."""

    def __init__(self, locator: DeviceLocator, embedder: TensorEmbedder) -> None:
        super().__init__(locator, embedder)
        self.device_locator, self.device_embedder = locator, embedder

    def analyse(self, images: Sequence[NDArray[np.uint8]], *, embed: bool = True) -> list[ImageFaces]:
        sizes = [(int(i.shape[1]), int(i.shape[0])) for i in images]
        return self._analyse(upload(images, self.device_locator.device), sizes, embed)

    def analyse_photos(
        self, photos: Sequence[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS, map_each: Mapper = map
    ) -> list[ImageFaces | ImageError]:
        """Photo bytes → every face with its embedding, or the ``ImageError`` of a photo that cannot be read."""
        decoded = decode_on_device(photos, self.device_locator.device, max_pixels=max_pixels, map_each=map_each)
        images = [d for d in decoded if isinstance(d, DeviceImage)]
        found = iter(self._analyse([d.pixels for d in images], [(d.width, d.height) for d in images], True))
        return [d if isinstance(d, ImageError) else next(found) for d in decoded]

    def embed_tensors(self, crops: torch.Tensor) -> torch.Tensor:
        """(F, D) unit embeddings of (F, 3, S, S) uint8 device crops, ``embed_batch`` per network call."""
        step = self.options.embed_batch
        parts = [self.device_embedder.embed_tensors(crops[i : i + step]) for i in range(0, len(crops), step)]
        vectors = torch.cat(parts) if parts else crops.new_zeros((0, self.embedder.embedding_size), dtype=torch.float32)
        check_batch("embedding", len(crops), len(vectors))
        return vectors

    def _analyse(self, images: Sequence[torch.Tensor], sizes: list[tuple[int, int]], embed: bool) -> list[ImageFaces]:
        located = self.device_locator.locate_tensors(images)
        vectors = self.embed_tensors(located.crops).cpu().numpy() if embed else None
        return located.to_host().per_image(sizes, vectors)


def upload(images: Sequence[NDArray[np.uint8]], device: torch.device) -> list[torch.Tensor]:
    """(H, W, 3) uint8 arrays as tensors on ``device``."""
    return [upload_pixels(image, device) for image in images]


def per_photo(located: LocatedFaces, sizes: Sequence[tuple[int, int]]) -> list[LocatedImage]:
    """A batch's located faces cut back into one ``LocatedImage`` per image; ``sizes`` are (width, height)."""
    faces = located.per_image(sizes)
    bounds = np.cumsum(np.r_[0, located.detections.counts()]).tolist()
    return [LocatedImage(one, located.aligned.crops[bounds[n] : bounds[n + 1]]) for n, one in enumerate(faces)]
