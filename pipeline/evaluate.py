"""Recognition accuracy from labelled embeddings: rank-1, TAR at FAR, ROC AUC, best threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.match import cosine_matrix


@dataclass(frozen=True)
class PairScores:
    """Cosine similarities of every unordered pair of images: same identity or not."""

    genuine: NDArray[np.float32]
    impostor: NDArray[np.float32]


@dataclass(frozen=True)
class Verification:
    """Verification metrics over all pairs.

    tar: {far: true-accept rate at that false-accept rate}; thresholds: {far: threshold}.
    """

    tar: dict[float, float]
    thresholds: dict[float, float]
    auc: float
    best_threshold: float
    best_accuracy: float


def pair_scores(embeddings: NDArray[np.float32], labels: NDArray[np.int64]) -> PairScores:
    """All pairs of (N, D) unit embeddings with (N,) identity labels."""
    similarity = cosine_matrix(embeddings, embeddings)
    upper = np.triu_indices(len(labels), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    scores = similarity[upper]
    return PairScores(genuine=scores[same], impostor=scores[~same])


def verify(pairs: PairScores, fars: tuple[float, ...] = (1e-1, 1e-2, 1e-3)) -> Verification:
    """TAR at each FAR, ROC AUC and the threshold that classifies pairs best."""
    impostor = np.sort(pairs.impostor)[::-1]
    tar, thresholds = {}, {}
    for far in fars:
        allowed = int(np.floor(far * len(impostor)))
        threshold = float(impostor[allowed]) if allowed < len(impostor) else -1.0
        thresholds[far] = threshold
        tar[far] = float(np.mean(pairs.genuine > threshold)) if len(pairs.genuine) else 0.0
    best_threshold, best_accuracy = _best_threshold(pairs)
    return Verification(
        tar=tar,
        thresholds=thresholds,
        auc=_auc(pairs),
        best_threshold=best_threshold,
        best_accuracy=best_accuracy,
    )


def rank_one(embeddings: NDArray[np.float32], labels: NDArray[np.int64], gallery: NDArray[np.bool_]) -> tuple[int, int]:
    """(correct, probes): each non-gallery embedding is identified as its nearest gallery entry."""
    probes = ~gallery
    if not probes.any() or not gallery.any():
        return 0, int(probes.sum())
    nearest = np.argmax(cosine_matrix(embeddings[probes], embeddings[gallery]), axis=1)
    return int(np.sum(labels[gallery][nearest] == labels[probes])), int(probes.sum())


def _auc(pairs: PairScores) -> float:
    if not len(pairs.genuine) or not len(pairs.impostor):
        return float("nan")
    impostor = np.sort(pairs.impostor)
    below = np.searchsorted(impostor, pairs.genuine, side="left")
    equal = np.searchsorted(impostor, pairs.genuine, side="right") - below
    return float(np.mean(below + 0.5 * equal) / len(impostor))


def _best_threshold(pairs: PairScores) -> tuple[float, float]:
    scores = np.concatenate([pairs.genuine, pairs.impostor])
    is_genuine = np.concatenate([np.ones(len(pairs.genuine)), np.zeros(len(pairs.impostor))])
    order = np.argsort(scores, kind="stable")
    scores, is_genuine = scores[order], is_genuine[order]
    # Threshold at scores[k]: pairs k.. are accepted, pairs ..k-1 rejected.
    rejected_impostors = np.concatenate([[0], np.cumsum(1 - is_genuine)])[:-1]
    accepted_genuine = len(pairs.genuine) - np.concatenate([[0], np.cumsum(is_genuine)])[:-1]
    accuracy = (rejected_impostors + accepted_genuine) / len(scores)
    best = int(np.argmax(accuracy))
    return float(scores[best]), float(accuracy[best])
