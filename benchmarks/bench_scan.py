"""Archive-scan throughput (Ray Data job, real database) next to the face engine run offline on the same files.

    python benchmarks/bench_scan.py                          # 600 distinct images, CPU
    python benchmarks/bench_scan.py --device cuda --backend torch --locate-batch 32 --embed-batch 64

The images are made from ../shared/faces: each photo mirrored, scaled and re-encoded until
there are ``--images`` distinct files (a scan stores each content once, so copies would not
count). "offline" is ``pipeline.stream.analyse_files`` over the same files with the models
loaded (what `sura faces` does, nothing stored). "scan" is the whole job: Ray Data read →
locate → embed actors, photos written to the photo store, faces and job progress to an
embedded PostgreSQL (faces into the pack's HNSW index) in batches. It is timed twice: from
the start (actor start-up and model loading included) and from its first stored batch to the
end (the steady rate). "pipeline only" runs the same Ray Data stages and stores nothing: the
cost of Ray Data itself.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageOps

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def main() -> None:
    args = _arguments()
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    work = Path(tempfile.mkdtemp(prefix="sura-bench-scan-"))
    work.chmod(0o755)  # the embedded server's user must enter it
    paths = _distinct_images(args.faces, work / "images", args.images)
    print(f"{len(paths)} distinct images in {work / 'images'}; pack {args.pack} on {args.device} ({args.backend})\n")

    try:
        offline_seconds, offline_faces = _offline(args, paths)
        pipeline, scan = _scan(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("offline engine (analyse_files)", len(paths), offline_faces, offline_seconds),
        ("Ray Data pipeline only, steady", pipeline["steady_images"], pipeline["steady_faces"], pipeline["steady"]),
        ("scan job, from start", scan["images"], scan["faces"], scan["total"]),
        ("scan job, after first batch", scan["steady_images"], scan["steady_faces"], scan["steady"]),
    ]
    offline_rate = len(paths) / offline_seconds
    print(f"{'':34} {'images':>7} {'faces':>6} {'seconds':>8} {'images/s':>9} {'faces/s':>8} {'vs offline':>10}")
    for label, images, faces, seconds in rows:
        rate = images / seconds
        print(
            f"{label:34} {images:7d} {faces:6d} {seconds:8.2f} {rate:9.2f} {faces / seconds:8.2f}"
            f" {rate / offline_rate:9.0%}"
        )
    same = "yes" if scan["faces"] == offline_faces else f"no ({scan['faces']} against {offline_faces})"
    print(f"\nstart-up (actors, models, first batch): {scan['startup']:.1f} s; the scan found the same faces: {same}")


def _distinct_images(faces: Path, folder: Path, count: int) -> list[Path]:
    """``count`` different files made from the test photos (mirrored, scaled, re-encoded)."""
    sources = sorted(p for p in faces.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    folder.mkdir(parents=True)
    seen: set[str] = set()
    paths: list[Path] = []
    variant = 0
    while len(paths) < count:
        source = sources[variant % len(sources)]
        step = variant // len(sources)
        variant += 1
        image = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
        if step % 2:
            image = ImageOps.mirror(image)
        scale = (1.0, 0.85, 0.7)[(step // 2) % 3]
        if scale < 1 and min(image.size) * scale >= 112:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=95 - (step % 7))
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        path = folder / f"{len(paths):05d}_{source.stem}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _offline(args: argparse.Namespace, paths: list[Path]) -> tuple[float, int]:
    from models.registry import PackSources, load_engine, resolve_pack
    from models.session import RuntimeOptions
    from pipeline.engine import EngineOptions
    from pipeline.stream import analyse_files

    runtime = RuntimeOptions(backend=args.backend, device=args.device)
    options = EngineOptions(detect_batch=args.locate_batch, embed_batch=args.embed_chunk)
    engine = load_engine(resolve_pack(args.pack, PackSources()), runtime, options)
    list(analyse_files(engine, paths[:8]))  # warm up
    started = time.perf_counter()
    faces = sum(len(r.faces.faces) for r in analyse_files(engine, paths) if r.faces is not None)
    return time.perf_counter() - started, faces


def _scan(args: argparse.Namespace, work: Path) -> tuple[dict[str, float], dict[str, float]]:
    import ray

    from configs.faces import ModelSettings, PipelineSettings
    from configs.settings import ScanSettings
    from serving.scans.scanner import Scanner
    from serving.scans.sources import list_source
    from serving.services.scans import SCAN_JOB, ScanRequest
    from storage.database import open_database
    from storage.jobs import JobQueue

    ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False, logging_level="ERROR")
    db = open_database(args.db_url, data_dir=work / "db")
    try:
        scanner = Scanner(
            db,
            photos_dir=work / "photos",
            models=ModelSettings(pack=args.pack, backend=args.backend, device=args.device, threads=args.threads),
            pipeline=PipelineSettings(detect_batch=args.locate_batch, embed_batch=args.embed_chunk),
            scan=ScanSettings(
                locate_batch=args.locate_batch,
                embed_batch=args.embed_batch,
                locate_actors=args.locate_actors,
                embed_actors=args.embed_actors,
                write_batch=args.write_batch,
                num_cpus=args.actor_cpus,
            ),
        )
        lease = timedelta(minutes=5)
        request = ScanRequest(source=str(work / "images"), pack=args.pack, source_label="benchmark")
        with db.transaction() as session:
            job = JobQueue(session).start(kind=SCAN_JOB, worker="bench", lease=lease, payload=request.payload())
        items = list_source(request.source)
        pipeline = _timed(lambda seen: _drain(scanner.batches(items, request), seen))
        scan = _timed(lambda seen: scanner.run(job, lease=lease, items=items, on_progress=seen))
    finally:
        db.close()
        ray.shutdown()
    return pipeline, scan


def _drain(batches: Iterator[dict[str, Any]], seen: Callable[[Any], None]) -> dict[str, int]:
    """Consume the pipeline's batches, counting what a scan would store."""
    from serving.scans.writer import ScanProgress

    progress = ScanProgress()
    for batch in batches:
        progress.stored += len(batch["key"])
        progress.faces += sum(int(n) for n in batch["faces"])
        seen(progress)
    return {"stored": progress.stored, "faces": progress.faces}


def _timed(run: Callable[[Callable[[Any], None]], dict[str, Any]]) -> dict[str, float]:
    first: list[tuple[float, int, int]] = []

    def seen(progress: Any) -> None:
        if not first:
            first.append((time.perf_counter(), progress.stored, progress.faces))

    started = time.perf_counter()
    result = run(seen)
    ended = time.perf_counter()
    at, images, faces = first[0]
    return {
        "images": result["stored"],
        "faces": result["faces"],
        "total": ended - started,
        "steady_images": result["stored"] - images,
        "steady_faces": result["faces"] - faces,
        "steady": ended - at,
        "startup": at - started,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--faces", type=Path, default=SHARED / "faces", help="Where the photos come from.")
    parser.add_argument("--pack", default="shared-scrfd")
    parser.add_argument("--backend", choices=["onnxruntime", "torch"], default="onnxruntime")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs for the local Ray (default: all).")
    parser.add_argument("--locate-batch", type=int, default=8)
    parser.add_argument("--embed-batch", type=int, default=16, help="Photos per embed call of the scan.")
    parser.add_argument("--embed-chunk", type=int, default=16, help="Faces per network call.")
    parser.add_argument("--locate-actors", type=int, default=1)
    parser.add_argument("--embed-actors", type=int, default=1)
    parser.add_argument("--write-batch", type=int, default=32)
    parser.add_argument("--actor-cpus", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=0, help="Threads per network in the scan actors (0: all).")
    parser.add_argument("--db-url", default=None, help="A PostgreSQL with pgvector (default: an embedded one).")
    return parser.parse_args()


if __name__ == "__main__":
    main()
