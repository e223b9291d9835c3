"""Decision rules for m-reference cases at an equal case-level FAR budget F, held out: max alone at the pair
threshold of F/m, union (best reference at F/(m+1) or the centroid at F/(m+1)) and the centroid alone at F.
Part of `case_scores.py`, which describes the measurement.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from case_faces import FARS, Cases, MainFaces, aggregate_scores, build_cases, paired_difference
from numpy.typing import NDArray

from pipeline.evaluate import pair_scores, split_identities

logger = logging.getLogger(__name__)

RULE_REFERENCES = (2, 3, 4, 5, 6, 7)  # the calibration set holds at most 8 photos of anyone
TABLES = (2, 3)  # m with a centroid threshold table of their own; larger m read the last one
RULES = ("max", "union", "centroid", "own")  # own: the centroid at its own m's table, for m beyond TABLES
Budget = tuple[float, int]  # (case-level FAR F, k): the FAR F / k
Fold = tuple[NDArray[np.bool_], dict[Budget, float], dict[int, dict[Budget, float]]]


@dataclass(frozen=True)
class ScoredCases:
    """m-reference cases and every photo's scores against them.

    best: (N, C) the best reference's cosine; centre: (N, C) the cosine to the normalised mean of the
    references; impostor: (N, C) which (photo, case) pairs are of different people.
    """

    cases: Cases
    best: NDArray[np.float32]
    centre: NDArray[np.float32]
    impostor: NDArray[np.bool_]


@dataclass(frozen=True)
class RuleOutcome:
    """One seed's held-out measurement of the decision rules for one m, each half of the identities taking
    its turn as the half that thresholds are fitted on.

    accepted: {(rule, F): (P,) which genuine probes pass}; wrong: {(rule, F): impostor (photo, case)
    pairs accepted}; impostors: impostor pairs read.
    """

    accepted: dict[tuple[str, float], NDArray[np.bool_]]
    wrong: dict[tuple[str, float], int]
    impostors: int
    cases: int


def measure_rules_pack(
    faces: MainFaces, labels: NDArray[np.int64], single: NDArray[np.bool_], seeds: int
) -> dict[tuple[bool, int], list[RuleOutcome]]:
    """The decision rules at equal case-level FAR for every (flip, m) over ``seeds`` splits."""
    labels, single = labels[faces.found], single[faces.found]
    variants = {False: faces.plain[faces.found], True: faces.flipped()[faces.found]}
    results: dict[tuple[bool, int], list[RuleOutcome]] = defaultdict(list)
    for seed in range(seeds):
        for flip, embeddings in variants.items():
            for m, outcome in measure_rules(embeddings, labels, single, seed).items():
                results[(flip, m)].append(outcome)
        logger.info("seed %d: decision rules measured", seed)
    return results


def measure_rules(
    embeddings: NDArray[np.float32], labels: NDArray[np.int64], single: NDArray[np.bool_], seed: int
) -> dict[int, RuleOutcome]:
    """{m: the rules' TAR and false accepts}, thresholds fitted on one half of the identities and read on
    the other, then the halves swapped, so every probe and impostor pair is read once."""
    halves = split_identities(labels, seed)
    scored = {m: score_cases(embeddings, labels, single, m, seed) for m in RULE_REFERENCES}
    folds = []
    for fit in (halves, ~halves):
        pair = _budget_thresholds(pair_scores(embeddings[fit], labels[fit]).impostor)
        tables = {m: _budget_thresholds(_fitted_impostors(scored[m], labels, fit)) for m in RULE_REFERENCES}
        folds.append((fit, pair, tables))
    return {m: _measure_rules_at(m, cases, labels, folds) for m, cases in scored.items()}


def _measure_rules_at(m: int, scored: ScoredCases, labels: NDArray[np.int64], folds: list[Fold]) -> RuleOutcome:
    """Every rule on the m-reference cases; folds: (fitted photos, pair thresholds, centroid tables by m)."""
    probes = np.flatnonzero(scored.cases.own >= 0)
    accepted = {(rule, far): np.zeros(len(probes), dtype=bool) for rule in RULES for far in FARS}
    wrong = dict.fromkeys(accepted, 0)
    impostors = 0
    for fit, pair, tables in folds:
        test, columns = ~fit, ~np.isin(scored.cases.labels, labels[fit])
        best, centre = scored.best[np.ix_(test, columns)], scored.centre[np.ix_(test, columns)]
        impostor = scored.impostor[np.ix_(test, columns)]
        held = test[probes]
        own = scored.cases.own[probes[held]]
        impostors += int(impostor.sum())
        for rule, far in accepted:
            decide = _rule(rule, far, m, pair, tables)
            wrong[(rule, far)] += int((decide(best, centre) & impostor).sum())
            accepted[(rule, far)][held] = decide(scored.best[probes[held], own], scored.centre[probes[held], own])
    return RuleOutcome(accepted, wrong, impostors, len(scored.cases.labels))


def score_cases(
    embeddings: NDArray[np.float32], labels: NDArray[np.int64], single: NDArray[np.bool_], m: int, seed: int
) -> ScoredCases:
    """The m-reference cases of ``seed`` and every photo's best-reference and centroid score against them."""
    cases = build_cases(labels, single, m, seed)
    return ScoredCases(
        cases,
        aggregate_scores(embeddings, cases, "max"),
        aggregate_scores(embeddings, cases, "centroid"),
        labels[:, None] != cases.labels[None, :],
    )


def _fitted_impostors(scored: ScoredCases, labels: NDArray[np.int64], fit: NDArray[np.bool_]) -> NDArray[np.float32]:
    """(I,) centroid scores of the impostor pairs within the fitted half: photos and cases of its identities."""
    columns = np.isin(scored.cases.labels, labels[fit])
    return scored.centre[np.ix_(fit, columns)][scored.impostor[np.ix_(fit, columns)]]


def _budget_thresholds(impostor: NDArray[np.float32]) -> dict[Budget, float]:
    """{(F, k): the threshold at FAR F / k} for every F of FARS and k up to one past the largest m, as
    `far_thresholds` fits them but ordering only the top of the scores."""
    count = len(impostor)
    allowed = {(far, k): int(np.floor(far / k * count)) for far in FARS for k in range(1, RULE_REFERENCES[-1] + 2)}
    top = min(max(allowed.values()) + 1, count)
    ordered = np.sort(np.partition(impostor, count - top)[count - top :])[::-1]
    return {budget: float(ordered[a]) if a < top else -1.0 for budget, a in allowed.items()}


def _rule(
    rule: str, far: float, m: int, pair: dict[Budget, float], tables: dict[int, dict[Budget, float]]
) -> Callable[[NDArray[np.float32], NDArray[np.float32]], NDArray[np.bool_]]:
    """Whether a (best, centroid) score passes ``rule`` at case-level FAR budget ``far`` with m references:
    max at f = F/m; union (max or centroid) at f = F/(m+1); the centroid alone at F, from the table of
    min(m, largest of TABLES), or (own) from the m's own table."""
    table = tables[min(m, TABLES[-1])]
    if rule == "max":
        return lambda best, centre: best > pair[(far, m)]
    if rule == "union":
        return lambda best, centre: (best > pair[(far, m + 1)]) | (centre > table[(far, m + 1)])
    if rule == "centroid":
        return lambda best, centre: centre > table[(far, 1)]
    return lambda best, centre: centre > tables[m][(far, 1)]


def rules_report(results: dict[tuple[bool, int], list[RuleOutcome]]) -> list[str]:
    """The rules' TAR, paired union − max difference and observed FAR per (flip, m, F), then the table check."""
    largest = TABLES[-1]
    lines = [
        "Decision rules at equal case-level FAR budget F, held out (fitted on half the identities, read on the",
        f"other, then swapped); m > {largest} read the m = {largest} centroid table. max: best > t_pair(F/m);",
        "union: best > t_pair(F/(m+1)) or centroid > t_centroid_m(F/(m+1)); centroid: centroid > t_centroid_m(F).",
        "TAR (%) mean over seeds; FAR observed, pooled over seeds; Δ as above; pairs: impostor pairs per seed",
        f"{'emb':5} m cases   pairs       F   max  union  cent {'union − max ±2σ [seeds]':>27}"
        f" {'FAR max':>8} {'union':>8} {'cent':>8} union/F",
        "-" * 117,
    ]
    for (flip, m), outcomes in sorted(results.items()):
        for far in FARS:
            tars = "".join(f" {_rule_tar(outcomes, rule, far):5.2f}" for rule in RULES[:3])
            delta = paired_difference([(o.accepted[("union", far)], o.accepted[("max", far)]) for o in outcomes])
            fars = "".join(f" {_rule_far(outcomes, rule, far):8.1e}" for rule in RULES[:3])
            head = f"{'flip' if flip else 'plain':5} {m} {outcomes[0].cases:5} {outcomes[0].impostors:7.1e} {far:7.0e}"
            lines.append(f"{head}{tars}{delta}{fars} {_rule_far(outcomes, 'union', far) / far:6.2f}")
    return [*lines, "", *_table_check(results)]


def _table_check(results: dict[tuple[bool, int], list[RuleOutcome]]) -> list[str]:
    largest = TABLES[-1]
    lines = [
        f"Does the m = {largest} centroid table hold for more references? Centroid alone at F: observed FAR / F",
        f"with the m = {largest} table and with the m's own table (held out), TAR (%) and the difference",
        f"{'emb':5} m       F  FAR/F m={largest}   own  TAR m={largest}    own {f'm={largest} − own ±2σ [seeds]':>27}",
        "-" * 92,
    ]
    for (flip, m), outcomes in sorted(results.items()):
        if m <= largest:
            continue
        for far in FARS:
            ratios = f" {_rule_far(outcomes, 'centroid', far) / far:11.2f} {_rule_far(outcomes, 'own', far) / far:5.2f}"
            tars = f" {_rule_tar(outcomes, 'centroid', far):9.2f} {_rule_tar(outcomes, 'own', far):6.2f}"
            delta = paired_difference([(o.accepted[("centroid", far)], o.accepted[("own", far)]) for o in outcomes])
            lines.append(f"{'flip' if flip else 'plain':5} {m} {far:7.0e}{ratios}{tars}{delta}")
    return lines


def _rule_tar(outcomes: list[RuleOutcome], rule: str, far: float) -> float:
    return 100 * float(np.mean([np.mean(o.accepted[(rule, far)]) for o in outcomes]))


def _rule_far(outcomes: list[RuleOutcome], rule: str, far: float) -> float:
    return sum(o.wrong[(rule, far)] for o in outcomes) / sum(o.impostors for o in outcomes)
