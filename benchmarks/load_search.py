"""Load on POST /api/v1/search at several concurrencies, next to the engine's offline throughput.

    python benchmarks/load_search.py                       # starts its own service (embedded DB, local Ray)
    python benchmarks/load_search.py --pack dlib --concurrency 1 4 8

Prints requests/s, p50 and p99 latency per concurrency and the best requests/s as a share of
the offline images/s (``FaceEngine`` on the same photos, decoding included, same machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
PASSWORD = "load test passphrase"


def main() -> None:
    args = _arguments()
    photos = _photos(args.images, args.requests)
    before = _offline(args.pack, photos, args.detect_batch)
    with LocalService(args) as (url, token):
        rows = [_drive(url, token, photos, concurrency) for concurrency in args.concurrency]
    after = _offline(args.pack, photos, args.detect_batch)
    offline = (before + after) / 2  # measured before and after the load: this machine's speed drifts
    print(f"offline engine ({args.pack}, files → faces → embeddings): {before:.1f} before, {after:.1f} after\n")
    print(f"{'concurrency':>11} | {'requests/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    for concurrency, rate, p50, p99, errors in rows:
        print(f"{concurrency:>11} | {rate:>10.1f} | {p50:>7.0f} | {p99:>7.0f} | {errors}")
    best = max(rows, key=lambda row: row[1])
    print(f"\nbest: {best[1]:.1f} requests/s at concurrency {best[0]} = {100 * best[1] / offline:.0f} % of offline")


def _drive(url: str, token: str, photos: list[tuple[str, bytes]], concurrency: int) -> tuple:
    latencies: list[float] = []
    errors = 0
    local = threading.local()

    def one(photo: tuple[str, bytes]) -> None:
        nonlocal errors
        if not hasattr(local, "client"):  # one keep-alive connection per worker thread
            local.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        started = time.perf_counter()
        reply = local.client.post("/search", files={"photo": (photo[0], photo[1], "image/jpeg")})
        latencies.append(time.perf_counter() - started)
        errors += reply.status_code != 200

    _warm(url, token, photos[: concurrency * 2], concurrency, one)
    latencies.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, photos))
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return concurrency, len(photos) / elapsed, p50, p99, errors


def _warm(url: str, token: str, photos: list, concurrency: int, one: object) -> None:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, photos))  # type: ignore[arg-type]


def _offline(pack_name: str, photos: list[tuple[str, bytes]], detect_batch: int) -> float:
    from models.registry import PackSources, load_engine, resolve_pack
    from pipeline.engine import EngineOptions
    from pipeline.stream import analyse_files

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (name, data) in enumerate(photos):
            path = Path(folder) / f"{i:05d}_{name}"
            path.write_bytes(data)
            paths.append(path)
        engine = load_engine(resolve_pack(pack_name, PackSources()), options=EngineOptions(detect_batch=detect_batch))
        list(analyse_files(engine, paths[:4]))
        started = time.perf_counter()
        list(analyse_files(engine, paths))
        return len(paths) / (time.perf_counter() - started)


class LocalService:
    """The whole service on this machine, as `sura serve` runs it, in temporary folders."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def __enter__(self) -> tuple[str, str]:
        os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
        import ray
        from pydantic import SecretStr
        from ray import serve

        from configs.faces import ModelSettings, PipelineSettings
        from serving.app import AppArgs, Batching, Scaling, build_app
        from serving.auth.passwords import hash_password
        from storage.database import open_database
        from storage.repositories.users import UserRepository
        from storage.tables import Role

        self.folder = Path(tempfile.mkdtemp(prefix="sura-load-"))
        self.folder.chmod(0o755)
        self.db = open_database(None, data_dir=self.folder / "db")
        with self.db.transaction() as session:
            UserRepository(session).create(
                email="load@example.org",
                full_name="Load",
                role=Role.INVESTIGATOR,
                password_hash=hash_password(PASSWORD),
            )
        ray.init(include_dashboard=False, configure_logging=False, logging_level="ERROR")
        serve.start(
            http_options={"host": "127.0.0.1", "port": self.args.port}, logging_config={"enable_access_log": False}
        )
        batching = {"max_batch_size": self.args.max_batch_size, "batch_wait_timeout_s": self.args.wait}
        serve.run(
            build_app(
                AppArgs(
                    models=ModelSettings(pack=self.args.pack, allow_research_only=True),  # a benchmark, not a service
                    pipeline=PipelineSettings(detect_batch=self.args.detect_batch),
                    db_url=SecretStr(self.db.server.url),  # type: ignore[union-attr]
                    token_secret=SecretStr("load-test-key-" + "x" * 40),
                    photos_dir=self.folder / "photos",
                    detector=Batching(num_cpus=0, **batching),
                    embedder=Batching(num_cpus=0, **batching),
                    matcher=Scaling(num_cpus=0),
                    gateway=Scaling(num_cpus=0),
                )
            ),
            name="sura",
            route_prefix="/",
        )
        url = f"http://127.0.0.1:{self.args.port}/api/v1"
        reply = httpx.post(f"{url}/auth/token", json={"email": "load@example.org", "password": PASSWORD}, timeout=60)
        return url, reply.json()["access_token"]

    def __exit__(self, *exc: object) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        self.db.close()


def _photos(folders: list[Path], count: int) -> list[tuple[str, bytes]]:
    files = sorted(p for folder in folders for p in folder.rglob("*.jpg") if not p.name.startswith("mask_"))
    return [(files[i % len(files)].name, files[i % len(files)].read_bytes()) for i in range(count)]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default="shared-scrfd")
    parser.add_argument("--images", type=Path, nargs="+", default=[SHARED / "faces" / "people"])
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--detect-batch", type=int, default=4)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--wait", type=float, default=0.005, help="batch_wait_timeout_s")
    parser.add_argument("--port", type=int, default=8611)
    return parser.parse_args()


if __name__ == "__main__":
    main()
