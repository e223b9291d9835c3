"""Recognition accuracy from labelled embeddings: rank-1, TAR at FAR, ROC AUC, best threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.calibration import Calibration, operating_point
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


def pair_scores(embeddings: NDArray[np.float32], labels: NDArray[np.int64], block: int = 1024) -> PairScores:
    """All pairs of (N, D) unit embeddings with (N,) identity labels, ``block`` rows at a time
    (millions of pairs without an N × N matrix of indices)."""
    genuine, impostor = [], []
    columns = np.arange(len(labels))
    for start in range(0, len(labels), block):
        rows = columns[start : start + block]
        similarity = cosine_matrix(embeddings[rows], embeddings)
        upper = columns[None, :] > rows[:, None]
        same = labels[rows][:, None] == labels[None, :]
        genuine.append(similarity[upper & same])
        impostor.append(similarity[upper & ~same])
    empty = np.zeros(0, np.float32)
    return PairScores(genuine=np.concatenate([empty, *genuine]), impostor=np.concatenate([empty, *impostor]))


def pair_similarity(
    embeddings: NDArray[np.float32], first: NDArray[np.int64], second: NDArray[np.int64]
) -> NDArray[np.float32]:
    """(P,) cosine similarity of the listed pairs of (N, D) unit embeddings, named by index."""
    return np.einsum("pd,pd->p", embeddings[first], embeddings[second]).astype(np.float32)


def centroid_scores(
    embeddings: NDArray[np.float32], labels: NDArray[np.int64], photos: int, seed: int = 0
) -> PairScores:
    """Faces against case centroids: a case for every identity with more than ``photos`` photos, the
    centroid of ``photos`` of them (drawn in a seeded order); genuine: its other photos, impostor:
    every photo of everyone else. (N, D) unit embeddings with (N,) identity labels."""
    rng = np.random.default_rng(seed)
    identities, counts = np.unique(labels, return_counts=True)
    genuine, impostor = [], []
    for identity in identities[counts > photos]:
        own = rng.permutation(np.flatnonzero(labels == identity))
        centroid = embeddings[own[:photos]].sum(axis=0)
        similarity = embeddings @ (centroid / max(float(np.linalg.norm(centroid)), 1e-12))
        genuine.append(similarity[own[photos:]])
        impostor.append(similarity[labels != identity])
    empty = np.zeros(0, np.float32)
    return PairScores(genuine=np.concatenate([empty, *genuine]), impostor=np.concatenate([empty, *impostor]))


def far_thresholds(impostor: NDArray[np.float32], fars: tuple[float, ...]) -> dict[float, float]:
    """{far: the lowest threshold that at most that share of ``impostor`` scores exceeds}; -1 when all may."""
    ordered = np.sort(impostor)[::-1]
    thresholds = {}
    for far in fars:
        allowed = int(np.floor(far * len(ordered)))
        thresholds[far] = float(ordered[allowed]) if allowed < len(ordered) else -1.0
    return thresholds


def observed_far(impostor: NDArray[np.float32], threshold: float) -> float:
    """The share of impostor scores above ``threshold``."""
    return float(np.mean(impostor > threshold)) if len(impostor) else float("nan")


def readable_fars(impostor_pairs: int, fars: tuple[float, ...]) -> tuple[float, ...]:
    """The FARs that ``impostor_pairs`` pairs can measure: at least one false accept allowed at each."""
    return tuple(far for far in fars if far * impostor_pairs >= 1)


def split_identities(labels: NDArray[np.int64], seed: int = 0) -> NDArray[np.bool_]:
    """(N,) True for the photos of a random half of the identities (by label), the same for a given seed."""
    identities = np.unique(labels)
    chosen = np.random.default_rng(seed).permutation(identities)[: len(identities) // 2]
    return np.isin(labels, chosen)


def roc_curve(pairs: PairScores, points: int = 400) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(FAR, TAR) at ``points`` thresholds spread over the impostor scores' upper tail, log-spaced in FAR."""
    impostor = np.sort(pairs.impostor)[::-1]
    allowed = np.unique(np.geomspace(1, max(len(impostor), 1), points).astype(np.int64)) - 1
    thresholds = impostor[allowed]
    genuine = np.sort(pairs.genuine)
    tar = 1.0 - np.searchsorted(genuine, thresholds, side="right") / max(len(genuine), 1)
    far = 1.0 - np.searchsorted(impostor[::-1], thresholds, side="right") / max(len(impostor), 1)
    return far, tar


def verify(pairs: PairScores, fars: tuple[float, ...] = (1e-1, 1e-2, 1e-3)) -> Verification:
    """TAR at each FAR, ROC AUC and the threshold that classifies pairs best."""
    thresholds = far_thresholds(pairs.impostor, fars)
    tar = {far: float(np.mean(pairs.genuine > t)) if len(pairs.genuine) else 0.0 for far, t in thresholds.items()}
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


def one_to_many(
    calibration: Calibration, pairs: PairScores, gallery_faces: int, max_wrong: float
) -> dict[str, float | int]:
    """The service's default operating point at ``gallery_faces`` one-photo cases, judged on ``pairs``:
    its FAR and threshold, the share of genuine pairs it keeps, the impostor share it lets through, and
    the wrong cases per face searched that share means at this size (expected: at most ``max_wrong``)."""
    point = operating_point(calibration, gallery_faces, max_wrong)
    observed = observed_far(pairs.impostor, point.threshold)
    return {
        "gallery_faces": gallery_faces,
        "far": point.far,
        "threshold": round(point.threshold, 4),
        "tar": float(np.mean(pairs.genuine >= point.threshold)) if len(pairs.genuine) else float("nan"),
        "observed_far": observed,
        "wrong_per_search": observed * gallery_faces,
    }
