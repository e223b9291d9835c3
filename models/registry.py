"""Find a pack by name or path, and build the face engine that runs it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from models.detector import OnnxFaceDetector, OutputLayout
from models.dlib_pack import DlibChipAligner, DlibFaceDetector, DlibFaceEmbedder, dlib_pack
from models.embedder import MirroredEmbedder, OnnxFaceEmbedder, graph_preprocess
from models.errors import BackendUnavailableError, PackError, PackNotFoundError, UnknownKindError
from models.insightface import RELEASE_URL, REMOTE_PACKS, find_pack
from models.manifest import load_manifest
from models.packs import DetectorSpec, EmbedderSpec, ModelPack
from models.runtime import load_onnx, open_session
from models.session import RuntimeOptions
from pipeline.align import ArcFaceAligner
from pipeline.detect import decode_scrfd, decode_yunet
from pipeline.engine import EngineOptions, FaceAligner, FaceDetector, FaceEmbedder, FaceEngine, FaceLocator
from pipeline.photos import DecodingLocator, PhotoLocator

logger = logging.getLogger(__name__)
_Factory = TypeVar("_Factory")

DEFAULT_PACK = "dlib"
PACKS_FOLDER = Path(__file__).resolve().parent.parent / "configs" / "packs"


@dataclass(frozen=True)
class PackSources:
    """Where packs come from: manifest folders, the download cache, and the release URL.

    dlib_upsample / dlib_max_side: settings of the built-in dlib pack. allow_research_only: False
    refuses packs whose licence is for research only (a service must be told it may use them).
    """

    pack_dirs: tuple[Path, ...] = (PACKS_FOLDER,)
    cache_dir: Path = Path.home() / ".cache" / "surasmart" / "models"
    download_url: str = RELEASE_URL
    allow_download: bool = True
    dlib_upsample: int = 1
    dlib_max_side: int = 1024
    allow_research_only: bool = True


def pack_names(sources: PackSources) -> list[str]:
    """Every pack name ``resolve_pack`` accepts without a path."""
    manifests = {p.stem for folder in sources.pack_dirs if folder.is_dir() for p in folder.glob("*.toml")}
    return [DEFAULT_PACK, *sorted(manifests), *REMOTE_PACKS]


def resolve_pack(name: str, sources: PackSources) -> ModelPack:
    """The pack called ``name``: built-in dlib, a manifest (by path or in a pack folder), or an
    InsightFace pack, from its wheel or downloaded into the cache on first use when downloads are allowed."""
    pack = _find_pack(name, sources)
    if pack.research_only and not sources.allow_research_only:
        raise PackError(
            f"pack {pack.name} is licensed for research only ({pack.licence}); "
            "set SURA_MODELS__ALLOW_RESEARCH_ONLY=true to use it anyway"
        )
    return pack


def _find_pack(name: str, sources: PackSources) -> ModelPack:
    if name == DEFAULT_PACK:
        return dlib_pack(upsample=sources.dlib_upsample, max_side=sources.dlib_max_side)
    if name.endswith(".toml"):
        return load_manifest(Path(name))
    for folder in sources.pack_dirs:
        if (folder / f"{name}.toml").is_file():
            return load_manifest(folder / f"{name}.toml")
    if name in REMOTE_PACKS:
        pack = find_pack(
            REMOTE_PACKS[name],
            cache_dir=sources.cache_dir,
            base_url=sources.download_url,
            allow_download=sources.allow_download,
        )
        logger.warning("pack %s: %s", name, pack.licence)
        return pack
    raise PackNotFoundError(f"no model pack named {name!r}; known: {', '.join(pack_names(sources))}")


DetectorFactory = Callable[[DetectorSpec, RuntimeOptions], FaceDetector]


@dataclass(frozen=True)
class EmbedderFactory:
    """How to build an embedder of one kind, and the aligner that cuts the crops it expects."""

    embedder: Callable[[EmbedderSpec, RuntimeOptions], FaceEmbedder]
    aligner: Callable[[EmbedderSpec], FaceAligner]


def load_engine(
    pack: ModelPack, runtime: RuntimeOptions | None = None, options: EngineOptions | None = None
) -> FaceEngine:
    """Load the pack's networks once and return the engine that runs them."""
    runtime = runtime or RuntimeOptions()
    if _on_device(pack, runtime):
        from models.device import load_device_engine

        return load_device_engine(pack, runtime, options)
    return FaceEngine(load_locator(pack, runtime, options), load_embedder(pack, runtime))


def load_locator(
    pack: ModelPack, runtime: RuntimeOptions | None = None, options: EngineOptions | None = None
) -> FaceLocator:
    """The pack's detector and aligner: everything before the embedding network."""
    runtime = runtime or RuntimeOptions()
    if _on_device(pack, runtime):
        from models.device import load_device_locator

        return load_device_locator(pack, runtime, options)
    detector = _factory(DETECTORS, "detector", pack.detector.kind, pack.name)
    aligner = _factory(EMBEDDERS, "embedder", pack.embedder.kind, pack.name).aligner
    return FaceLocator(detector(pack.detector, runtime or RuntimeOptions()), aligner(pack.embedder), options)


def load_aligner(pack: ModelPack) -> FaceAligner:
    """The pack's aligner alone (no network): to cut the crops its embedder expects."""
    return _factory(EMBEDDERS, "embedder", pack.embedder.kind, pack.name).aligner(pack.embedder)


def load_embedder(pack: ModelPack, runtime: RuntimeOptions | None = None) -> FaceEmbedder:
    """The pack's embedding network."""
    runtime = runtime or RuntimeOptions()
    if _on_device(pack, runtime):
        from models.device import load_device_embedder

        return load_device_embedder(pack, runtime)
    factory = _factory(EMBEDDERS, "embedder", pack.embedder.kind, pack.name)
    embedder = factory.embedder(pack.embedder, runtime)
    return MirroredEmbedder(embedder) if pack.embedder.mirrored else embedder


def load_photo_locator(
    pack: ModelPack, runtime: RuntimeOptions | None = None, options: EngineOptions | None = None
) -> PhotoLocator:
    """Photo bytes → located faces: decoded onto the device with the device path, else by Pillow."""
    runtime = runtime or RuntimeOptions()
    if _on_device(pack, runtime):
        from models.device import load_device_locator

        return load_device_locator(pack, runtime, options)
    return DecodingLocator(load_locator(pack, runtime, options))


def _on_device(pack: ModelPack, runtime: RuntimeOptions) -> bool:
    """Whether every step runs on the GPU (``pipeline.device``): CUDA asked for, no onnxruntime
    providers named, and a pack of kinds the device path knows."""
    if runtime.device != "cuda" or runtime.providers:
        return False
    try:
        from models.device import runs_on_device  # torch is an optional extra: imported only for CUDA
    except ImportError as exc:
        raise BackendUnavailableError("networks on CUDA run with torch: pip install 'surasmart[torch]'") from exc
    return runs_on_device(pack)


def _onnx_detector(layout: OutputLayout) -> DetectorFactory:
    def build(spec: DetectorSpec, runtime: RuntimeOptions) -> FaceDetector:
        return OnnxFaceDetector(spec, open_session(spec.file.verified(), runtime), layout)

    return build


def _onnx_embedder(spec: EmbedderSpec, runtime: RuntimeOptions) -> FaceEmbedder:
    path = spec.file.verified()
    preprocess = spec.preprocess or graph_preprocess(load_onnx(path))
    return OnnxFaceEmbedder(spec, open_session(path, runtime), preprocess)


def _factory(table: Mapping[str, _Factory], role: str, kind: str, pack: str) -> _Factory:
    # A kind missing here must fail loudly: falling back to another kind's decoder finds nonsense faces.
    if kind not in table:
        raise UnknownKindError(f"pack {pack!r} names {role} kind {kind!r}; known: {', '.join(sorted(table))}")
    return table[kind]


# The only place a kind decides what runs: a kind missing here is refused, never guessed.
DETECTORS: Mapping[str, DetectorFactory] = {
    "dlib-hog": lambda spec, runtime: DlibFaceDetector(spec),
    "scrfd": _onnx_detector(OutputLayout(outputs=9, decode=decode_scrfd)),
    "yunet": _onnx_detector(OutputLayout(outputs=12, decode=decode_yunet)),
}
EMBEDDERS: Mapping[str, EmbedderFactory] = {
    "arcface": EmbedderFactory(_onnx_embedder, lambda spec: ArcFaceAligner(spec.input_size)),
    "dlib-resnet": EmbedderFactory(lambda spec, runtime: DlibFaceEmbedder(spec), lambda spec: DlibChipAligner()),
}
