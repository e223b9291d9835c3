"""Case scores from several reference photos (best, mean of the top two, centroid), with and without the
mirrored-crop embedding, and whether a pair-level threshold keeps its false-accept rate per case.

    .venv/bin/python benchmarks/case_scores.py --pack shared-scrfd --pack buffalo_s --pack dlib

Every photo of ``../shared/calibration`` (lfw and lfw_singles) is detected once; its main face (the
largest, nearest the centre, as `sura eval` counts it) is embedded from the aligned crop and from that
crop mirrored left–right. "flip" is the normalised sum of the two.

Cases: each lfw identity with at least max(3, m + 1) photos with a face holds m references (the first m
of a seeded shuffle, so the references of m = 1 ⊂ 2 ⊂ 3) and its other photos are its genuine probes;
every photo of the other identities and every single is an impostor probe of it. A case scores a probe by
- max: the best reference's cosine (what the matcher does today);
- top2: the mean of the two best references' cosines;
- centroid: the cosine to the normalised mean of the reference embeddings.
At m = 1 the three are the same, so only max is shown.

Per (pack, flip, m, aggregate), averaged over ``--seeds`` shuffles:
- TAR at case-level FAR 1e-3, 1e-4, 1e-5, each threshold fitted on that configuration's own impostor
  case scores (every aggregate compared at the same false-accept rate per case); rank-1 among all cases;
- held out: thresholds fitted on the cases and probes of a random half of the identities, TAR and observed
  FAR on the other half;
- paired differences on the same probes (flip − plain; top2 or centroid − max), in points, with twice the
  standard error of one seed's paired difference (probes accepted by one side only) and the range over seeds;
- 1:N: the pair-level threshold t at FAR f (fitted on all pairs of single photos), applied to each aggregate
  over m references: observed case-level FAR and its ratio to m·f (the bound that holds for max);
- decision rules at an equal case-level FAR budget F (expected wrong cases per search), held out with the
  halves taking turns, m = 2..7: max alone at the pair threshold of F/m (what the service does), union
  (best reference at the pair threshold of F/(m+1), or the centroid at the threshold where m-reference
  centroids have case FAR F/(m+1)) and the centroid alone at F; m > 3 read the m = 3 centroid table, and
  a last table says how far that table's FAR drifts from its own m's.

Faces are cached under ``--cache`` (default /work/cache/case_scores), so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from configs.settings import get_settings
from models.registry import load_engine, resolve_pack
from pipeline.evaluate import far_thresholds, observed_far, pair_scores, split_identities
from serving.cli.labelled import labelled_set

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_faces import (
    FARS,
    Cases,
    MainFaces,
    aggregate_scores,
    build_cases,
    describe_speed,
    embed_main_faces,
    paired_difference,
    plain_pack,
)
from case_rules import measure_rules_pack, rules_report

logger = logging.getLogger(__name__)

CALIBRATION = Path(__file__).resolve().parent.parent.parent / "shared" / "calibration"
PAIR_FARS = (1e-3, 1e-4)
REFERENCES = (1, 2, 3)
AGGREGATES = ("max", "top2", "centroid")
Key = tuple[bool, int, str]  # (flip, m, aggregate)


@dataclass(frozen=True)
class Outcome:
    """One seed's measurement of one configuration (rates as shares, not percent).

    tar, held_tar, held_far: {far: rate}; accepted: {far: (P,) which genuine probes pass};
    pair_far: {pair-level far f: observed case-level FAR at the pair threshold of f}.
    """

    tar: dict[float, float]
    rank_one: float
    held_tar: dict[float, float]
    held_far: dict[float, float]
    accepted: dict[float, NDArray[np.bool_]]
    pair_far: dict[float, float]
    cases: int
    genuine: int
    impostors: int


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = _arguments()
    if not (CALIBRATION / "lfw").is_dir():
        sys.exit(f"calibration photos not found at {CALIBRATION}")
    data = labelled_set(CALIBRATION / "lfw", CALIBRATION / "lfw_singles")
    settings = get_settings()
    print(f"# Case scores on {CALIBRATION}: {data.identities} identities, {len(data.paths)} photos, seeds {args.seeds}")
    for name in args.pack:
        pack = plain_pack(resolve_pack(name, settings.models.sources()))
        engine = load_engine(pack, settings.models.runtime(), settings.pipeline.engine())
        faces = embed_main_faces(engine, pack, data.paths, args.cache, settings.pipeline)
        print(f"\n## {pack.name}\n\n{describe_speed(faces)}", flush=True)
        results, pair_thresholds = measure_pack(faces, data.labels, data.impostor, args.seeds)
        print("\n".join(_report(results, pair_thresholds)), flush=True)
        rules = measure_rules_pack(faces, data.labels, data.impostor, args.seeds)
        print("\n" + "\n".join(rules_report(rules)), flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pack", action="append", help="Pack to measure (repeatable); default shared-scrfd, buffalo_s."
    )
    parser.add_argument("--seeds", type=int, default=5, help="Shuffles of the references (and identity halves).")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/case_scores"))
    args = parser.parse_args()
    args.pack = args.pack or ["shared-scrfd", "buffalo_s"]
    return args


def measure_pack(
    faces: MainFaces, labels: NDArray[np.int64], single: NDArray[np.bool_], seeds: int
) -> tuple[dict[Key, list[Outcome]], dict[bool, dict[float, float]]]:
    """Every (flip, m, aggregate) over ``seeds`` shuffles, and each variant's pair-level thresholds."""
    labels, single = labels[faces.found], single[faces.found]
    variants = {False: faces.plain[faces.found], True: faces.flipped()[faces.found]}
    pair_thresholds = {flip: far_thresholds(pair_scores(e, labels).impostor, PAIR_FARS) for flip, e in variants.items()}
    results: dict[Key, list[Outcome]] = defaultdict(list)
    for seed in range(seeds):
        halves = split_identities(labels, seed)
        for m in REFERENCES:
            cases = build_cases(labels, single, m, seed)
            impostor = labels[:, None] != cases.labels[None, :]
            fit_cases = np.isin(cases.labels, labels[halves])
            for flip, embeddings in variants.items():
                for aggregate in AGGREGATES if m > 1 else AGGREGATES[:1]:
                    scores = aggregate_scores(embeddings, cases, aggregate)
                    outcome = measure(scores, cases, impostor, (halves, fit_cases), pair_thresholds[flip])
                    results[(flip, m, aggregate)].append(outcome)
        logger.info("seed %d measured", seed)
    return results, pair_thresholds


def measure(
    scores: NDArray[np.float32],
    cases: Cases,
    impostor: NDArray[np.bool_],
    split: tuple[NDArray[np.bool_], NDArray[np.bool_]],
    pair_thresholds: dict[float, float],
) -> Outcome:
    """TAR at case-level FAR, rank-1, held-out TAR and FAR, and the FAR at the pair-level thresholds.

    impostor: (N, C) which (photo, case) pairs are of different people; split: (N,) photos and (C,) cases
    of the half of the identities that thresholds are fitted on for the held-out numbers.
    """
    halves, fit_cases = split
    probes = np.flatnonzero(cases.own >= 0)
    genuine = scores[probes, cases.own[probes]]
    impostor_scores = scores[impostor]
    thresholds = far_thresholds(impostor_scores, FARS)
    accepted = {far: genuine > t for far, t in thresholds.items()}
    fit = far_thresholds(scores[np.ix_(halves, fit_cases)][impostor[np.ix_(halves, fit_cases)]], FARS)
    test = scores[np.ix_(~halves, ~fit_cases)][impostor[np.ix_(~halves, ~fit_cases)]]
    test_genuine = genuine[~halves[probes]]
    return Outcome(
        tar={far: float(np.mean(a)) for far, a in accepted.items()},
        rank_one=float(np.mean(np.argmax(scores[probes], axis=1) == cases.own[probes])),
        held_tar={far: float(np.mean(test_genuine > t)) for far, t in fit.items()},
        held_far={far: observed_far(test, t) for far, t in fit.items()},
        accepted=accepted,
        pair_far={far: observed_far(impostor_scores, t) for far, t in pair_thresholds.items()},
        cases=len(cases.labels),
        genuine=len(probes),
        impostors=len(impostor_scores),
    )


def _report(results: dict[Key, list[Outcome]], pair_thresholds: dict[bool, dict[float, float]]) -> list[str]:
    return [
        *_accuracy_table(results),
        "",
        *_held_out_table(results),
        "",
        *_differences_table(results),
        "",
        *_one_to_n_table(results, pair_thresholds),
    ]


def _mean(outcomes: list[Outcome], value: str, far: float | None = None) -> float:
    values = [getattr(o, value) if far is None else getattr(o, value)[far] for o in outcomes]
    return float(np.mean(values))


def _label(key: Key) -> str:
    flip, m, aggregate = key
    return f"{'flip' if flip else 'plain':5} {m}  {aggregate:8}"


def _accuracy_table(results: dict[Key, list[Outcome]]) -> list[str]:
    head = "".join(f" TAR@{far:.0e}" for far in FARS)
    lines = [f"{'emb':5} m  {'aggregate':8} cases genuine impostor {head}  rank-1", "-" * 84]
    for key, outcomes in sorted(results.items()):
        first = outcomes[0]
        tars = "".join(f" {100 * _mean(outcomes, 'tar', far):9.2f}" for far in FARS)
        counts = f"{first.cases:5} {first.genuine:7} {first.impostors:8}"
        lines.append(f"{_label(key)} {counts} {tars}  {100 * _mean(outcomes, 'rank_one'):6.2f}")
    return ["TAR (%) at case-level FAR (thresholds fitted per configuration), rank-1 (%); mean over seeds", *lines]


def _held_out_table(results: dict[Key, list[Outcome]]) -> list[str]:
    head = "".join(f" {'TAR@' + format(far, '.0e') + ' [worst] (FAR seen)':>30}" for far in FARS)
    lines = [
        "Held out: thresholds fitted on half of the identities, read on the other half; median over seeds,",
        "[worst seed]: a few impostor scores of one mislabelled photo can set a threshold fitted on a half",
        f"{'emb':5} m  {'aggregate':8}{head}",
        "-" * 110,
    ]
    for key, outcomes in sorted(results.items()):
        cells = ""
        for far in FARS:
            tar = [100 * o.held_tar[far] for o in outcomes]
            seen = float(np.median([o.held_far[far] for o in outcomes]))
            cells += f" {np.median(tar):12.2f} [{min(tar):6.2f}] ({seen:.1e})"
        lines.append(f"{_label(key)}{cells}")
    return lines


def _differences_table(results: dict[Key, list[Outcome]]) -> list[str]:
    pairs = [((True, m, a), (False, m, a)) for (flip, m, a) in sorted(results) if flip]
    pairs += [((f, m, a), (f, m, "max")) for (f, m, a) in sorted(results) if a != "max"]
    head = "".join(f" {'Δ@' + format(far, '.0e') + ' ±2σ [seeds]':>27}" for far in FARS)
    lines = ["Paired differences in TAR points on the same probes (σ: one seed's, from probes accepted by one side)"]
    lines += [f"{'A − B':30}{head}", "-" * 111]
    for better, base in pairs:
        cells = "".join(_difference(results[better], results[base], far) for far in FARS)
        lines.append(f"{_difference_label(better, base):30}{cells}")
    return lines


def _difference_label(first: Key, second: Key) -> str:
    flip, m, aggregate = first
    if flip != second[0]:
        return f"flip − plain   m={m} {aggregate}"
    return f"{aggregate} − max ({'flip' if flip else 'plain'})  m={m}"


def _difference(first: list[Outcome], second: list[Outcome], far: float) -> str:
    return paired_difference([(a.accepted[far], b.accepted[far]) for a, b in zip(first, second, strict=True)])


def _one_to_n_table(results: dict[Key, list[Outcome]], pair_thresholds: dict[bool, dict[float, float]]) -> list[str]:
    lines = ["1:N: pair-level threshold t(f) applied to case scores over m references; observed case FAR, ratio to m·f"]
    lines += [
        f"{'emb':5} m  {'aggregate':8}" + "".join(f"  t({f:.0e}) {'case FAR':>9} {'ratio':>6}" for f in PAIR_FARS)
    ]
    lines.append("-" * 80)
    for (flip, m, aggregate), outcomes in sorted(results.items()):
        cells = "".join(
            f"  {pair_thresholds[flip][f]:8.4f} {_mean(outcomes, 'pair_far', f):9.2e} "
            f"{_mean(outcomes, 'pair_far', f) / (m * f):6.2f}"
            for f in PAIR_FARS
        )
        lines.append(f"{_label((flip, m, aggregate))}{cells}")
    return lines


if __name__ == "__main__":
    main()
