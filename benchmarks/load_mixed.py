"""Mixed load for a while: searches, sightings, reference photos and reviews by concurrent users.

    python benchmarks/load_mixed.py                        # 8 users, 60 s, its own service on loopback
    python benchmarks/load_mixed.py --users 8 --seconds 60 --pack shared-scrfd

Prints requests and errors per kind, p50/p99 latency, and the Gateway replica's memory before
and after. Every answer but a 2xx counts as an error, except the ones the rules call for (a
second decision on a decided match: 409). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_search import PASSWORD, SHARED, LocalService

KINDS = ("search", "sighting", "enrol", "review")
WEIGHTS = (0.4, 0.25, 0.15, 0.2)
# What the rules call for, not faults: another reviewer decided or holds it first (409); an
# investigator may not give the deciding second confirmation (403).
EXPECTED = {"review": {403, 409}}


def main() -> None:
    args = _arguments()
    people = sorted(p for p in (SHARED / "faces" / "people").iterdir() if p.is_dir())
    service = LocalService(args)
    with service as (url, token):
        supervisor = _supervisor(url, service.db)
        cases = _cases(url, supervisor, people)
        before = _gateway_rss()
        results = _drive(url, token, supervisor, people, cases, args)
        after = _gateway_rss()
    _report(results, args, before, after)


def _drive(url: str, token: str, supervisor: str, people: list[Path], cases: list[str], args: argparse.Namespace):
    results: dict[str, list[tuple[float, int]]] = defaultdict(list)
    photos = [p for folder in people for p in sorted(folder.glob("*.jpg"))]
    deadline = time.monotonic() + args.seconds
    counter = itertools.count()

    def user(number: int) -> None:
        rng = random.Random(number)
        signed = supervisor if number % 2 else token  # half investigators, half supervisors
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {signed}"}, timeout=300) as api:
            while time.monotonic() < deadline:
                kind = rng.choices(KINDS, WEIGHTS)[0]
                started = time.perf_counter()
                status = _act(api, kind, rng, photos, cases, next(counter))
                results[kind].append((time.perf_counter() - started, status))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(args.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _act(api: httpx.Client, kind: str, rng: random.Random, photos: list[Path], cases: list[str], n: int) -> int:
    photo = rng.choice(photos)
    data = _fresh_copy(photo, n) if kind == "enrol" else photo.read_bytes()  # one photo is one case's only
    upload = {"photo": (photo.name, data, "image/jpeg")}
    if kind == "search":
        return api.post("/search", files=upload).status_code
    if kind == "sighting":
        return api.post("/sightings", files=upload).status_code
    if kind == "enrol":
        case = api.post("/cases", json={"full_name": f"Load {n}", "consent_biometric": True}).json()["id"]
        return api.post(f"/cases/{case}/photos", files=upload).status_code
    taken = api.post("/review/next")
    if taken.status_code != 200:
        return taken.status_code
    decision = rng.choice(("confirm", "reject", "inconclusive"))
    return api.post(f"/matches/{taken.json()['id']}/review", json={"decision": decision}).status_code


def _fresh_copy(photo: Path, n: int) -> bytes:
    """The photo re-encoded so that its bytes are new (a reference photo belongs to one case)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(photo).convert("RGB").save(buffer, format="JPEG", quality=80 + n % 15, comment=str(n).encode())
    return buffer.getvalue()


def _supervisor(url: str, db) -> str:  # type: ignore[no-untyped-def]
    """A supervisor beside the service's investigator: they record consent and give second confirmations."""
    from serving.auth.passwords import hash_password
    from storage.repositories.users import UserRepository
    from storage.tables import Role

    email = "load-lead@example.org"
    with db.transaction() as session:
        UserRepository(session).create(
            email=email, full_name="Lead", role=Role.SUPERVISOR, password_hash=hash_password(PASSWORD)
        )
    reply = httpx.post(f"{url}/auth/token", json={"email": email, "password": PASSWORD}, timeout=60)
    return reply.json()["access_token"]


def _cases(url: str, supervisor: str, people: list[Path]) -> list[str]:
    """One case per identity with its first photo, consent recorded: the sightings have something to match."""
    ids = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {supervisor}"}, timeout=300) as api:
        for folder in people:
            case = api.post("/cases", json={"full_name": folder.name, "consent_biometric": True}).json()["id"]
            first = sorted(folder.glob("*.jpg"))[0]
            api.post(f"/cases/{case}/photos", files={"photo": (first.name, first.read_bytes(), "image/jpeg")})
            ids.append(case)
    return ids


def _gateway_rss() -> float:
    """The Gateway replica's resident memory in MiB (asked of the replica itself)."""
    import ray

    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith("SERVE_REPLICA::sura#Gateway#"):
            handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
            pid = ray.get(handle.__ray_call__.remote(lambda self: os.getpid()))
            return psutil.Process(pid).memory_info().rss / 2**20
    return float("nan")


def _report(results, args: argparse.Namespace, before: float, after: float) -> None:  # type: ignore[no-untyped-def]
    print(f"{args.users} users, {args.seconds} s, pack {args.pack}\n")
    print(f"{'kind':>9} | {'requests':>8} | {'errors':>6} | {'p50 ms':>7} | {'p99 ms':>7}")
    total_errors = 0
    for kind in KINDS:
        rows = results.get(kind, [])
        if not rows:
            continue
        seconds = np.array([r[0] for r in rows]) * 1000
        allowed = {200, 201, 204} | EXPECTED.get(kind, set())
        errors = sum(status not in allowed for _, status in rows)
        unexpected = sorted({status for _, status in rows if status not in allowed})
        total_errors += errors
        p50, p99 = np.percentile(seconds, [50, 99])
        print(f"{kind:>9} | {len(rows):>8} | {errors:>6} | {p50:>7.0f} | {p99:>7.0f} {unexpected or ''}")
    print(f"\nerrors: {total_errors}; gateway memory {before:.0f} MiB before, {after:.0f} MiB after")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default="shared-scrfd")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--detect-batch", type=int, default=4)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--wait", type=float, default=0.005, help="batch_wait_timeout_s")
    parser.add_argument("--port", type=int, default=8612)
    return parser.parse_args()


if __name__ == "__main__":
    main()
