"""Face-engine throughput per pack and backend, next to InsightFace's per-image loop.

    python benchmarks/bench_engine.py                 # CPU: every pack, ORT and torch
    python benchmarks/bench_engine.py --gpu           # adds torch fp16 on CUDA, checked against CPU

Two measurements per row: "arrays" runs detect → align → embed on images already decoded;
"files" includes reading and decoding (ours: Pillow with EXIF in threads; the loop:
cv2.imread). The reference is InsightFace's ``FaceAnalysis.get`` called image by image on
the same two ONNX files: what most face projects run. Best of ``--repeats`` timed runs.
Needs only numpy, onnxruntime, opencv, Pillow (+ torch/onnx2torch, insightface, dlib when
present); the rows that need a missing package are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.errors import ModelError
from models.registry import PackSources, load_engine, resolve_pack
from models.session import RuntimeOptions
from pipeline.decode import read_image_file
from pipeline.engine import EngineOptions
from pipeline.stream import analyse_files

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ONNX_PACKS = ("shared-scrfd", "shared-scrfd-2.5g", "shared-yunet")


def main() -> None:
    args = _arguments()
    paths = _inputs(args.images, args.min_images)
    arrays = [read_image_file(p).pixels for p in paths]
    print(f"{len(paths)} images from {', '.join(str(f) for f in args.images)}; best of {args.repeats}\n")
    rows: list[tuple[str, ...]] = []
    reference: dict[str, tuple[float, float]] = {}
    for name in args.packs:
        pack = resolve_pack(name, PackSources())
        loop = _insightface_loop(pack, paths, arrays, args.repeats)
        if loop:
            reference[name] = loop
            rows.append((name, "InsightFace FaceAnalysis loop", *_rates(loop, len(paths), loop[2]), "1.00×"))
        for backend in args.backends:
            runtime = RuntimeOptions(backend=backend)
            rows.append(_engine_row(name, runtime, EngineOptions(detect_batch=1), paths, arrays, args, reference))
        if args.gpu:
            runtime = RuntimeOptions(backend="torch", device="cuda")
            options = EngineOptions(detect_batch=args.gpu_batch, embed_batch=4 * args.gpu_batch)
            rows.append(_engine_row(name, runtime, options, paths, arrays, args, reference))
            _check_gpu(name, options, arrays[: args.check_images])
    if args.dlib:
        few = max(8, len(paths) // 10)
        rows.append(_engine_row("dlib", RuntimeOptions(), EngineOptions(), paths[:few], arrays[:few], args, reference))
    _print_table(rows)


def _engine_row(name, runtime, options, paths, arrays, args, reference) -> tuple[str, ...]:
    label = f"ours, batch {options.detect_batch}"
    try:
        engine = load_engine(resolve_pack(name, PackSources()), runtime, options)
    except ModelError as exc:
        return (name, label, f"skipped: {exc}", "", "", "", "")
    faces = sum(len(r.faces) for r in engine.analyse(arrays[:2]))  # warm-up
    arrays_s, faces = _best(lambda: sum(len(r.faces) for r in engine.analyse(arrays)), args.repeats)
    files_s, _ = _best(lambda: sum(1 for _ in analyse_files(engine, paths)), args.repeats)
    ratio = ""
    if name in reference:
        ratio = f"{reference[name][0] / arrays_s:.2f}× / {reference[name][1] / files_s:.2f}×"
    return (name, f"{label} ({engine.description})", *_rates((arrays_s, files_s), len(paths), faces), ratio)


def _insightface_loop(pack, paths, arrays, repeats) -> tuple[float, float, int] | None:
    try:
        from insightface.app import FaceAnalysis
    except ImportError:
        return None
    if pack.detector.kind != "scrfd":
        return None  # FaceAnalysis only knows SCRFD/RetinaFace detectors
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "models" / pack.name
        folder.mkdir(parents=True)
        (folder / "det.onnx").symlink_to(pack.detector.file.path)
        (folder / "rec.onnx").symlink_to(pack.embedder.file.path)
        app = FaceAnalysis(
            name=pack.name, root=root, allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"]
        )
        app.prepare(ctx_id=-1, det_size=pack.detector.input_size)
        bgr = [np.ascontiguousarray(a[..., ::-1]) for a in arrays]
        app.get(bgr[0])
        arrays_s, faces = _best(lambda: sum(len(app.get(image)) for image in bgr), repeats)
        files_s, _ = _best(lambda: sum(len(app.get(cv2.imread(str(p)))) for p in paths), repeats)
    return arrays_s, files_s, faces


def _check_gpu(name: str, options: EngineOptions, arrays: list[np.ndarray], device: str = "cuda") -> None:
    """The torch ``device``'s faces and embeddings next to onnxruntime's on the CPU, same images."""
    pack = resolve_pack(name, PackSources())
    cpu = load_engine(pack, RuntimeOptions(), options).analyse(arrays)
    try:
        gpu = load_engine(pack, RuntimeOptions(backend="torch", device=device), options).analyse(arrays)
    except ModelError as exc:
        print(f"GPU check {name}: skipped: {exc}")
        return
    counts = sum(len(a.faces) != len(b.faces) for a, b in zip(cpu, gpu, strict=True))
    box, cosine = 0.0, 1.0
    for a, b in zip(cpu, gpu, strict=True):
        if len(a.faces) == len(b.faces):
            for fa, fb in zip(a.faces, b.faces, strict=True):
                box = max(box, float(np.abs(fa.box - fb.box).max()))
                cosine = min(cosine, float(fa.embedding @ fb.embedding))
    print(
        f"GPU check {name} (torch {device} vs onnxruntime CPU): {counts} image(s) with a different face count, "
        f"max box difference {box:.2f} px, min embedding cosine {cosine:.5f}"
    )


def _best(run: Callable[[], int], repeats: int) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def _rates(seconds: tuple[float, float] | tuple[float, float, int], images: int, faces: int) -> tuple[str, ...]:
    arrays_s, files_s = seconds[0], seconds[1]
    return (f"{images / arrays_s:.1f}", f"{faces / arrays_s:.1f}", f"{images / files_s:.1f}", f"{faces / files_s:.1f}")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("pack", "runner", "img/s arrays", "faces/s arrays", "img/s files", "faces/s files", "speed-up vs loop")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)))


def _inputs(folders: list[Path], minimum: int) -> list[Path]:
    files = sorted(p for folder in folders for p in folder.rglob("*") if p.is_file() and not p.name.startswith("mask_"))
    if not files:
        raise SystemExit(f"no images under {folders}")
    return [files[i % len(files)] for i in range(max(minimum, len(files)))]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    photos = [SHARED / "faces" / "people", SHARED / "faces" / "scenes"]
    parser.add_argument("--images", type=Path, nargs="+", default=photos)
    parser.add_argument("--min-images", type=int, default=160)
    parser.add_argument("--packs", nargs="+", default=list(ONNX_PACKS))
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"], choices=["onnxruntime", "torch"])
    parser.add_argument("--no-dlib", dest="dlib", action="store_false", help="skip the (slow) dlib row")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="add torch fp16 on CUDA and check it against the CPU")
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--check-images", type=int, default=64)
    return parser.parse_args()


if __name__ == "__main__":
    main()
