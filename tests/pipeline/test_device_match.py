"""Matching on the device: the same cases, similarities and faces as the numpy gallery."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pytest

pytest.importorskip("torch", reason="the device path needs torch: pip install 'surasmart[torch]'")

import torch

from pipeline.ages import PhotoAge
from pipeline.calibration import Calibration
from pipeline.candidates import rank_candidates
from pipeline.device.match import DeviceCaseGallery, rank_cases_tensors
from pipeline.gallery import CaseGallery, GalleryFace
from pipeline.match import l2_normalize, rank_cases


def _vectors(rng: np.random.Generator, count: int, size: int = 128) -> np.ndarray:
    return l2_normalize(rng.normal(size=(count, size)).astype(np.float32))


def test_case_ranking_equals_numpy() -> None:
    rng = np.random.default_rng(3)
    gallery, queries = _vectors(rng, 500), _vectors(rng, 9)
    face_case = np.sort(rng.integers(0, 60, 500)).astype(np.int64)
    similarity = queries @ gallery.T
    expected = rank_cases(similarity, face_case, 5)
    cases = int(face_case.max()) + 1
    ours = rank_cases_tensors(torch.from_numpy(similarity), torch.from_numpy(face_case), cases, 5)
    np.testing.assert_array_equal(ours.case, expected.case)
    np.testing.assert_array_equal(ours.face, expected.face)
    np.testing.assert_allclose(ours.similarity, expected.similarity)


def test_device_gallery_answers_like_the_numpy_gallery_through_changes() -> None:
    rng = np.random.default_rng(5)
    cases = [uuid.uuid4() for _ in range(40)]
    rows = [GalleryFace(uuid.uuid4(), cases[int(rng.integers(0, 40))], vector) for vector in _vectors(rng, 200)]
    queries = _vectors(rng, 6)
    ours, reference = DeviceCaseGallery("cpu"), CaseGallery()
    for gallery in (ours, reference):
        gallery.replace(rows)
    _assert_same_hits(ours.search(queries, 3), reference.search(queries, 3))
    added = uuid.uuid4()
    for gallery in (ours, reference):
        gallery.remove_case(cases[0])
        gallery.remove_face(rows[1].face_id)
        gallery.add(GalleryFace(added, cases[1], queries[0]))
    found = ours.search(queries, 3)
    _assert_same_hits(found, reference.search(queries, 3))
    assert found[0][0] == (cases[1], pytest.approx(1.0), added)
    assert all(case != cases[0] for hits in found for case, _, _ in hits)


def _assert_same_hits(ours: list[list[tuple[uuid.UUID, float, uuid.UUID]]], expected: list[list[tuple]]) -> None:
    assert [[(c, f) for c, _, f in hits] for hits in ours] == [[(c, f) for c, _, f in hits] for hits in expected]
    np.testing.assert_allclose(
        [[s for _, s, _ in h] for h in ours], [[s for _, s, _ in h] for h in expected], rtol=1e-6
    )


def test_device_gallery_ranks_candidates_and_age_gaps_like_the_numpy_gallery() -> None:
    rng = np.random.default_rng(8)
    cases = [uuid.uuid4() for _ in range(30)]
    child = PhotoAge(date(2010, 1, 1), 7.0)
    rows = [
        GalleryFace(uuid.uuid4(), cases[i % 30], vector, child if i % 4 == 0 else None)
        for i, vector in enumerate(_vectors(rng, 120, 16))
    ]
    queries = _vectors(rng, 4, 16)
    calibration = Calibration(points=((1e-1, 0.1), (1e-3, 0.3), (1e-5, 0.5)), source="test")
    found = []
    for gallery in (DeviceCaseGallery("cpu"), CaseGallery()):
        gallery.replace(rows)
        found.append(rank_candidates(gallery, calibration, queries, 3, probe_day=date(2026, 1, 1)))
    ours, expected = found
    assert ours.point == expected.point
    assert [[(c.case_id, c.age_gap) for c in hits] for hits in ours.candidates] == [
        [(c.case_id, c.age_gap) for c in hits] for hits in expected.candidates
    ]
    assert any(c.age_gap for hits in ours.candidates for c in hits)
