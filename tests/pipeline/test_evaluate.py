"""Accuracy metrics on hand-made scores, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate import (
    PairScores,
    far_thresholds,
    observed_far,
    pair_scores,
    rank_one,
    readable_fars,
    roc_curve,
    split_identities,
    verify,
)
from pipeline.match import l2_normalize


def test_perfect_separation() -> None:
    pairs = PairScores(genuine=np.array([0.8, 0.9], np.float32), impostor=np.linspace(0, 0.5, 1000).astype(np.float32))
    result = verify(pairs, (1e-2, 1e-3))
    assert result.auc == 1.0
    assert result.tar == {1e-2: 1.0, 1e-3: 1.0}
    assert result.thresholds[1e-2] == pytest.approx(0.5 - 10 * 0.5 / 999, abs=1e-6)
    assert result.best_accuracy == 1.0 and 0.5 < result.best_threshold <= 0.8 + 1e-6


def test_overlap_lowers_tar_and_auc() -> None:
    genuine, impostor = np.array([0.2, 0.6, 0.9], np.float32), np.array([0.1, 0.3, 0.5, 0.7], np.float32)
    pairs = PairScores(genuine=genuine, impostor=impostor)
    result = verify(pairs, (0.25,))
    assert result.thresholds[0.25] == pytest.approx(0.5)  # one impostor of four may pass
    assert result.tar[0.25] == pytest.approx(2 / 3)
    assert result.auc == pytest.approx((1 + 3 + 4) / 12)


def test_pairs_and_rank_one_on_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = l2_normalize(rng.normal(size=(3, 16)))
    labels = np.repeat(np.arange(3), 4)
    embeddings = l2_normalize(centres[labels] + 0.05 * rng.normal(size=(12, 16)))
    pairs = pair_scores(embeddings, labels)
    assert len(pairs.genuine) == 3 * 6 and len(pairs.impostor) == 66 - 18
    gallery = np.zeros(12, bool)
    gallery[[0, 4, 8]] = True
    assert rank_one(embeddings, labels, gallery) == (9, 9)
    wrong = labels.copy()
    wrong[1] = 2
    assert rank_one(embeddings, wrong, gallery)[0] == 8


def test_blocked_pairs_match_the_full_matrix() -> None:
    rng = np.random.default_rng(1)
    embeddings = l2_normalize(rng.normal(size=(50, 8)))
    labels = rng.integers(0, 7, size=50)
    whole, blocked = pair_scores(embeddings, labels, block=50), pair_scores(embeddings, labels, block=7)
    np.testing.assert_array_equal(whole.genuine, blocked.genuine)
    np.testing.assert_array_equal(whole.impostor, blocked.impostor)
    assert len(whole.genuine) + len(whole.impostor) == 50 * 49 // 2


def test_far_thresholds_hold_and_only_readable_fars_are_offered() -> None:
    impostor = np.linspace(0, 1, 10_001).astype(np.float32)
    thresholds = far_thresholds(impostor, (1e-2, 1e-3, 1e-5))
    assert observed_far(impostor, thresholds[1e-2]) == pytest.approx(1e-2, abs=1e-4)
    assert observed_far(impostor, thresholds[1e-3]) <= 1e-3 and thresholds[1e-5] == pytest.approx(1.0)
    assert readable_fars(10_001, (1e-1, 1e-4, 1e-5)) == (1e-1, 1e-4)


def test_identity_split_keeps_each_person_on_one_side() -> None:
    labels = np.repeat(np.arange(20), 3)
    half = split_identities(labels)
    assert half.sum() == 30 and all(len(set(half[labels == k])) == 1 for k in range(20))
    np.testing.assert_array_equal(half, split_identities(labels))


def test_roc_curve_runs_from_strict_to_lenient() -> None:
    pairs = PairScores(
        genuine=np.array([0.5, 0.7, 0.9], np.float32), impostor=np.linspace(0, 0.8, 100, dtype=np.float32)
    )
    far, tar = roc_curve(pairs)
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert far[0] == 0 and tar[0] == pytest.approx(1 / 3) and far[-1] == pytest.approx(0.99)
