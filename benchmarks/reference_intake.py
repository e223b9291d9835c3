"""Reference-photo intake: how many LFW photos each gate refuses, and how well faces match by size and sharpness.

    python benchmarks/reference_intake.py                          # dlib, shared-scrfd, shared-yunet
    python benchmarks/reference_intake.py --pack shared-scrfd --limit 200 --out /tmp/intake.md

Every photo of ``../shared/calibration/lfw`` (and ``lfw_singles``) is a would-be reference photo.

- Old gate (``EnrolmentRules``: faces ≥ 40 px and sharpness ≥ 50, exactly one such face):
  refusals by reason.
- New gate: refuse no face, or a main face under ``--min-face-size``; several faces → the main face
  when it stands out (``main_face`` with ``MAIN_FACE_MARGIN``), else the caller chooses.
- Matching: whether a photo's main face finds its own identity (best similarity to the identity's
  other photos) above the pack's threshold at FAR 1e-3, fitted here on all impostor pairs of
  lfw + lfw_singles; bucketed by sharpness, by face size on copies of one photo per identity
  shrunk by ``--scales`` and centred on a grey canvas of the original size (a small face in a
  photo), and by sharpness on copies blurred by ``--blurs`` (Gaussian sigma, pixels).
- Warnings: how many accepted photos the new gate would warn about (``--warn-size``, ``--warn-sharpness``).

Faces are cached under ``--cache`` (default /tmp/calib-cache), so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.registry import PackSources, load_engine, resolve_pack
from pipeline.evaluate import far_thresholds, pair_scores
from pipeline.match import cosine_matrix
from pipeline.quality import MAIN_FACE_MARGIN
from serving.cli.labelled import PhotoFaces, analyse_photos, identity_photos

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intake_copies import SHARPNESS_EDGES, Reference, degraded, first_photos, pick, rate, share

CALIBRATION = Path(__file__).resolve().parent.parent.parent / "shared" / "calibration"
OLD_MIN_SIZE, OLD_MIN_SHARPNESS = 40.0, 50.0


def main() -> None:
    args = _arguments()
    if not (CALIBRATION / "lfw").is_dir():
        sys.exit(f"calibration photos not found at {CALIBRATION}")
    lines = [f"# Reference-photo intake on {CALIBRATION} (limit {args.limit or 'none'})", ""]
    print("\n".join(lines), flush=True)
    for name in args.pack:
        measured = _measure_pack(name, args)
        print("\n".join(measured), flush=True)
        lines += measured
        if args.out:
            args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", action="append", help="Pack to measure (repeatable).")
    parser.add_argument("--limit", type=int, default=0, help="Identities of lfw (and singles) to use; 0: all.")
    parser.add_argument("--subset", type=int, default=300, help="Identities whose first photo is shrunk.")
    parser.add_argument("--scales", default="0.5,0.35,0.25,0.18,0.13", help="Shrink factors, comma-separated.")
    parser.add_argument("--blurs", default="1,1.5,2,3,4", help="Gaussian blur sigmas (px), comma-separated.")
    parser.add_argument("--min-face-size", type=float, default=20.0, help="New gate's hard refusal.")
    parser.add_argument("--warn-size", type=float, default=32.0, help="New gate's warning below this face size.")
    parser.add_argument("--warn-sharpness", type=float, default=20.0, help="New gate's warning below this sharpness.")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/calib-cache"))
    parser.add_argument("--out", type=Path, help="Also write the tables (markdown) here.")
    args = parser.parse_args()
    args.pack = args.pack or ["dlib", "shared-scrfd", "shared-yunet"]
    args.scales = [float(s) for s in args.scales.split(",")]
    args.blurs = [float(s) for s in args.blurs.split(",")]
    return args


def _measure_pack(name: str, args: argparse.Namespace) -> list[str]:
    pack = resolve_pack(name, PackSources())
    engine = load_engine(pack)
    photos = identity_photos(CALIBRATION / "lfw")
    singles = identity_photos(CALIBRATION / "lfw_singles")
    if args.limit:
        keep = set(sorted({n for n, _ in photos})[: args.limit])
        photos, singles = [p for p in photos if p[0] in keep], singles[: args.limit]
    everything = photos + singles
    table = analyse_photos(engine, pack, [p for _, p in everything], cache_dir=args.cache)
    names = [n for n, _ in photos] + [f"single:{n}" for n, _ in singles]
    labels = np.unique(names, return_inverse=True)[1].astype(np.int64)
    main = table.main_faces()
    found = main >= 0
    threshold = far_thresholds(pair_scores(table.embeddings[main[found]], labels[found]).impostor, (1e-3,))[1e-3]
    matched, best = _own_identity(table.embeddings, main, labels, np.arange(len(photos)))
    lines = [
        f"## {name}: {len(everything)} photos ({len(photos)} of {len(set(names)) - len(singles)} identities"
        f" + {len(singles)} singles), threshold at FAR 1e-3 = {threshold:.3f}",
        "",
    ]
    lines += _gates(table, args)
    lines += _by_sharpness(table, main[: len(photos)], best, threshold, matched)
    reference = Reference(engine, pack, photos, table, main, labels, threshold, args.cache)
    first = first_photos(photos, labels, args.subset)
    lines += degraded(reference, first, "scale", [1.0, *args.scales])
    lines += degraded(reference, first, "blur", args.blurs)
    return lines


def _own_identity(
    embeddings: NDArray[np.float32], main: NDArray[np.int64], labels: NDArray[np.int64], probes: NDArray[np.int64]
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """(P,) whether each probe photo has a main face and another photo of its identity with one; (P,) the
    best similarity of the probe's main face to those other photos (-1 where there is none)."""
    best = np.full(len(probes), -1.0, dtype=np.float32)
    usable = np.zeros(len(probes), dtype=bool)
    found = np.flatnonzero(main >= 0)
    similarity = cosine_matrix(embeddings[main[found]], embeddings[main[found]])
    position = {int(n): k for k, n in enumerate(found)}
    for p, n in enumerate(probes.tolist()):
        if n not in position:
            continue
        same = labels[found] == labels[n]
        same[position[n]] = False
        if same.any():
            usable[p] = True
            best[p] = similarity[position[n]][same].max()
    return usable, best


def _old_gate(table: PhotoFaces) -> list[str]:
    """Each photo's outcome under ``EnrolmentRules`` as the service applies them today."""
    size, sharp = table.size, table.sharpness
    outcomes = []
    for n in range(len(table)):
        mine = np.flatnonzero(table.face_image == n)
        big = mine[size[mine] >= OLD_MIN_SIZE]
        usable = big[sharp[big] >= OLD_MIN_SHARPNESS]
        if not len(mine):
            outcomes.append("no_face")
        elif len(usable) > 1:
            outcomes.append("several_faces")
        elif len(usable) == 1:
            outcomes.append("accepted")
        else:
            outcomes.append("too_blurred" if len(big) else "too_small")
    return outcomes


def _new_gate(table: PhotoFaces, min_size: float) -> list[str]:
    """Each photo's outcome when only no face or a main face under ``min_size`` is refused."""
    main, size = table.main_faces(MAIN_FACE_MARGIN), table.size
    counts = table.counts()
    outcomes = []
    for n in range(len(table)):
        if counts[n] == 0:
            outcomes.append("no_face")
        elif main[n] < 0:
            outcomes.append("caller_chooses")
        else:
            outcomes.append("too_small" if size[main[n]] < min_size else "accepted")
    return outcomes


def _gates(table: PhotoFaces, args: argparse.Namespace) -> list[str]:
    min_size = args.min_face_size
    old, new = _old_gate(table), _new_gate(table, min_size)
    total = len(table)
    reasons = ("no_face", "several_faces", "too_small", "too_blurred", "caller_chooses", "accepted")
    lines = ["| outcome | old gate | new gate |", "|---|---:|---:|"]
    for reason in reasons:
        lines.append(f"| {reason} | {share(old.count(reason), total)} | {share(new.count(reason), total)} |")
    refused_old = total - old.count("accepted")
    refused_new = new.count("no_face") + new.count("too_small")
    lines.append(f"| **refused** | **{share(refused_old, total)}** | **{share(refused_new, total)}** |")
    several = int(np.sum(table.counts() > 1))
    main = table.main_faces(MAIN_FACE_MARGIN)
    accepted = np.array([outcome == "accepted" for outcome in new])
    small = accepted & (pick(table.size, main) < args.warn_size)
    soft = accepted & (pick(table.sharpness, main) < args.warn_sharpness)
    lines += [
        "",
        f"Photos with several faces: {share(several, total)}; new gate min_face_size {min_size:g}. Accepted with a "
        f"warning: face under {args.warn_size:g} px {share(int(small.sum()), total)}, sharpness under "
        f"{args.warn_sharpness:g} {share(int(soft.sum()), total)}.",
        "",
    ]
    return lines


def _by_sharpness(
    table: PhotoFaces, main: NDArray[np.int64], best: NDArray[np.float32], threshold: float, usable: NDArray[np.bool_]
) -> list[str]:
    sharpness = pick(table.sharpness, main)
    lines = [
        "Own-identity match (best similarity to the identity's other photos > threshold) by the main face's sharpness:",
        "",
        "| sharpness | photos | matched | photos below | matched below |",
        "|---|---:|---:|---:|---:|",
    ]
    for low, high in itertools.pairwise(SHARPNESS_EDGES):
        inside = usable & (sharpness >= low) & (sharpness < high)
        below = usable & (sharpness < high)
        lines.append(
            f"| {low:g}–{high:g} | {inside.sum()} | {rate(best[inside] > threshold)} "
            f"| {below.sum()} | {rate(best[below] > threshold)} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
