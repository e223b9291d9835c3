"""What happens to faces stored before a pack's embedder became mirrored.

    .venv/bin/python benchmarks/mirror_upgrade.py --pack dlib

A service that upgrades to a mirrored pack keeps the reference faces it embedded before (one
plain embedding each) and compares them with faces it embeds now (the normalised sum of the
face and its mirror image), at the thresholds calibrated for mirrored against mirrored. This
measures, on ``../shared/calibration`` (lfw + lfw_singles, each photo's main face, LFW's
mislabelled photos left out), at the mirrored thresholds for FAR 1e-3, 1e-4, 1e-5:

- mirrored ↔ mirrored: what the calibration promises (the FAR is the target by construction);
- stored plain reference ↔ mirrored probe: every ordered pair of different photos;
- plain ↔ plain at the mirrored thresholds, and at its own (what the service did before).

An observed FAR above the target would mean old galleries must be re-embedded before the
upgrade; below it, they may stay and keep working while new photos gain. Faces are cached
under ``--cache`` (shared with ``case_scores.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from configs.settings import get_settings
from models.registry import load_engine, resolve_pack
from pipeline.evaluate import PairScores, far_thresholds, observed_far, pair_scores
from pipeline.match import l2_normalize
from serving.cli.labelled import ERRATA, labelled_set, read_leave_out

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_faces import embed_main_faces, plain_pack

CALIBRATION = Path(__file__).resolve().parent.parent.parent / "shared" / "calibration"
FARS = (1e-3, 1e-4, 1e-5)


def cross_scores(
    references: NDArray[np.float32], probes: NDArray[np.float32], labels: NDArray[np.int64], block: int = 1024
) -> PairScores:
    """Every ordered pair (reference i, probe j), i ≠ j, of two embeddings of the same photos."""
    genuine, impostor = [], []
    columns = np.arange(len(labels))
    for start in range(0, len(labels), block):
        rows = columns[start : start + block]
        similarity = references[rows] @ probes.T
        other = columns[None, :] != rows[:, None]
        same = labels[rows][:, None] == labels[None, :]
        genuine.append(similarity[other & same])
        impostor.append(similarity[other & ~same])
    return PairScores(np.concatenate(genuine), np.concatenate(impostor))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default="dlib")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/case_scores"))
    args = parser.parse_args()
    if not (CALIBRATION / "lfw").is_dir():
        sys.exit(f"calibration photos not found at {CALIBRATION}")
    data = labelled_set(CALIBRATION / "lfw", CALIBRATION / "lfw_singles", read_leave_out(ERRATA))
    settings = get_settings()
    pack = plain_pack(resolve_pack(args.pack, settings.models.sources()))
    engine = load_engine(pack, settings.models.runtime(), settings.pipeline.engine())
    faces = embed_main_faces(engine, pack, data.paths, args.cache, settings.pipeline)
    kept = faces.found & ~data.left_out
    labels = data.labels[kept]
    plain, mirrored = faces.plain[kept], l2_normalize(faces.plain[kept] + faces.mirrored[kept])
    both = pair_scores(mirrored, labels)
    old = pair_scores(plain, labels)
    mixed = cross_scores(plain, mirrored, labels)
    same_face = np.sum(plain * mirrored, axis=1)
    print(f"# {args.pack}: {int(kept.sum())} main faces, {len(both.impostor):,} impostor pairs")
    print(
        f"a face's plain embedding against its mirrored one: cosine median {np.median(same_face):.4f}, "
        f"1st percentile {np.quantile(same_face, 0.01):.4f}\n"
    )
    print(
        "FAR target | threshold | mirrored TAR | stored plain ↔ mirrored: TAR, FAR (× target) "
        "| plain at it: TAR, FAR | plain at its own: TAR"
    )
    mirrored_thresholds = far_thresholds(both.impostor, FARS)
    plain_thresholds = far_thresholds(old.impostor, FARS)
    for far in FARS:
        t, own = mirrored_thresholds[far], plain_thresholds[far]
        mixed_far = observed_far(mixed.impostor, t)
        print(
            f"{far:10.0e} | {t:9.4f} | {_tar(both, t):11.2f} % | {_tar(mixed, t):6.2f} %, {mixed_far:.2e} "
            f"({mixed_far / far:.2f}×) | {_tar(old, t):6.2f} %, {observed_far(old.impostor, t):.2e} "
            f"| {_tar(old, own):6.2f} %"
        )


def _tar(scores: PairScores, threshold: float) -> float:
    return 100 * float(np.mean(scores.genuine > threshold))


if __name__ == "__main__":
    main()
