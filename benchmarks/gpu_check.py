"""The GPU path checked against the CPU path on the same photos: same faces, same embeddings, same top-1."""

from __future__ import annotations

import uuid

import numpy as np
import torch

from models.device import load_device_engine
from models.packs import ModelPack
from models.registry import load_engine
from models.session import RuntimeOptions
from pipeline.decode import decode_image
from pipeline.device.match import DeviceCaseGallery
from pipeline.engine import EngineOptions
from pipeline.gallery import CaseGallery, GalleryFace
from pipeline.types import ImageFaces


def check_device(label: str, pack: ModelPack, photos: dict[str, bytes], device: torch.device) -> bool:
    """The device path's faces and embeddings next to the CPU path's, photo by photo."""
    cpu = load_engine(pack, RuntimeOptions(), EngineOptions(detect_batch=8, embed_batch=64))
    expected = cpu.analyse([decode_image(data).pixels for data in photos.values()])
    engine = load_device_engine(pack, device_runtime(device), EngineOptions(detect_batch=64, embed_batch=512))
    found = [f for f in engine.analyse_photos(list(photos.values())) if isinstance(f, ImageFaces)]
    counts = sum(len(a.faces) != len(b.faces) for a, b in zip(found, expected, strict=True))
    ious, cosines = _matched(found, expected)
    reference = _top_identities(list(photos), expected, CaseGallery())
    ours = _top_identities(list(photos), found, DeviceCaseGallery(str(device)))
    agree = sum(a == b for a, b in zip(reference, ours, strict=False))  # unequal lengths fail below
    same = len(found) == len(photos) and counts == 0 and agree == len(reference)
    ok = same and min(ious) >= 0.9 and min(cosines) >= 0.999
    print(
        f"check {label} ({engine.description} vs {cpu.description}): {'PASS' if ok else 'FAIL'}: "
        f"{sum(len(r.faces) for r in expected)} faces in {len(photos)} photos, {counts} photo(s) with another "
        f"face count, IoU min {min(ious):.4f}, cosine min {min(cosines):.5f} / median {np.median(cosines):.6f}, "
        f"top-1 identity the same for {agree} of {len(reference)} probes"
    )
    return ok


def _matched(found: list[ImageFaces], expected: list[ImageFaces]) -> tuple[list[float], list[float]]:
    """IoU and embedding cosine of each expected face with its best-overlapping found face."""
    ious, cosines = [1.0], [1.0]
    for ours, theirs in zip(found, expected, strict=True):
        for face in theirs.faces:
            if not ours.faces:
                ious.append(0.0)
                continue
            overlap = [_iou(face.box, other.box) for other in ours.faces]
            best = ours.faces[int(np.argmax(overlap))]
            ious.append(max(overlap))
            if face.embedding is not None and best.embedding is not None:
                cosines.append(float(face.embedding @ best.embedding))
    return ious, cosines


def _top_identities(names: list[str], results: list[ImageFaces], gallery: CaseGallery) -> list[str]:
    """The identity ranked first for each people/ photo but the first of its identity (the case photo)."""
    cases: dict[str, uuid.UUID] = {}
    probes: list[np.ndarray] = []
    for name, result in zip(names, results, strict=True):
        parts = name.split("/")
        if parts[0] == "people" and result.faces:
            vector = max(result.faces, key=lambda f: f.size).embedding
            if parts[1] in cases:
                probes.append(np.asarray(vector))
            else:
                cases[parts[1]] = uuid.uuid4()
                gallery.add(GalleryFace(uuid.uuid4(), cases[parts[1]], np.asarray(vector)))
    names_of = {case: identity for identity, case in cases.items()}
    return [names_of[hits[0][0]] for hits in gallery.search(np.stack(probes), 1)] if probes else []


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def device_runtime(device: torch.device) -> RuntimeOptions:
    return RuntimeOptions(backend="torch", device="cuda" if device.type == "cuda" else "cpu")
