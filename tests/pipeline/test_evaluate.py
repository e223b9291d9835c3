"""Accuracy metrics on hand-made scores, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate import PairScores, pair_scores, rank_one, verify
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
