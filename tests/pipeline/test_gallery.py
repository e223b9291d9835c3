"""Candidates and their meaning: the operating point as the gallery grows, children's photos across an age gap."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import numpy as np
import pytest

from pipeline.ages import AgeGapRule, PhotoAge, age_gap, photo_age
from pipeline.calibration import Calibration, operating_point
from pipeline.gallery import CaseGallery, GalleryFace, MatchPolicy, rank_candidates

CALIBRATION = Calibration(
    points=((1e-1, 0.10), (1e-2, 0.20), (1e-3, 0.30), (1e-4, 0.40), (1e-5, 0.50), (1e-6, 0.60)),
    source="test",
    operating_far=1e-3,
)
TODAY = date(2026, 12, 1)


def test_the_threshold_rises_with_the_gallery_to_keep_wrong_candidates_rare() -> None:
    small = operating_point(CALIBRATION, 50, max_wrong=0.1)
    assert (small.far, small.threshold) == (1e-3, pytest.approx(0.30)), "never looser than the pack's own point"
    thousand = operating_point(CALIBRATION, 1_000, max_wrong=0.1)
    assert thousand.far == pytest.approx(1e-4) and thousand.threshold == pytest.approx(0.40)
    assert thousand.expected_wrong == pytest.approx(0.1)
    between = operating_point(CALIBRATION, 3_000, max_wrong=0.1)
    assert 0.40 < between.threshold < 0.50 and between.expected_wrong == pytest.approx(0.1)
    huge = operating_point(CALIBRATION, 10_000_000, max_wrong=0.1)
    assert huge.far == 1e-6 and huge.expected_wrong == pytest.approx(10.0), "capped at what was measured, and said"
    fixed = operating_point(CALIBRATION, 10_000_000, max_wrong=None)
    assert fixed.far == 1e-3 and fixed.expected_wrong == pytest.approx(10_000)


def test_a_photo_is_aged_from_what_the_case_knows() -> None:
    born = date(2010, 6, 1)
    taken = datetime(2016, 6, 1, 12)
    assert photo_age(taken_at=taken, date_of_birth=born, stated_age=None, last_seen_at=None) == PhotoAge(
        date(2016, 6, 1), pytest.approx(6.0, abs=0.01)
    )
    stated = photo_age(taken_at=None, date_of_birth=born, stated_age=4.0, last_seen_at=None)
    assert stated is not None and stated.taken_on == date(2014, 6, 1)
    undated = photo_age(taken_at=None, date_of_birth=None, stated_age=7.0, last_seen_at=datetime(2019, 3, 2))
    assert undated == PhotoAge(date(2019, 3, 2), 7.0), "a family's photo is no later than the last sighting"
    assert photo_age(taken_at=taken, date_of_birth=None, stated_age=None, last_seen_at=None) is None
    assert photo_age(taken_at=None, date_of_birth=None, stated_age=7.0, last_seen_at=None) is None


def test_only_a_child_photo_years_before_is_across_an_age_gap() -> None:
    rule = AgeGapRule(child_under=18, min_years=3)
    gap = age_gap(rule, PhotoAge(date(2016, 12, 1), 6.0), TODAY)
    assert gap is not None and (gap.reference_age_years, gap.years_apart) == (6.0, pytest.approx(10.0, abs=0.1))
    assert age_gap(rule, PhotoAge(date(2016, 12, 1), 25.0), TODAY) is None, "an adult's photo"
    assert age_gap(rule, PhotoAge(date(2025, 12, 1), 6.0), TODAY) is None, "a recent photo"


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


def _child_gallery() -> tuple[CaseGallery, dict[str, uuid.UUID]]:
    """Four cases: an adult's, two children photographed 10 years ago, one child photographed last year."""
    cases = {name: uuid.uuid4() for name in ("adult", "child_a", "child_b", "recent_child")}
    gallery = CaseGallery()
    old, recent = PhotoAge(date(2016, 12, 1), 6.0), PhotoAge(date(2025, 12, 1), 6.0)
    gallery.add(GalleryFace(uuid.uuid4(), cases["adult"], _unit(1, 0, 0, 0), PhotoAge(date(2016, 12, 1), 30.0)))
    gallery.add(GalleryFace(uuid.uuid4(), cases["child_a"], _unit(0.25, 1, 0, 0), old))
    gallery.add(GalleryFace(uuid.uuid4(), cases["child_b"], _unit(0.12, 0, 1, 0), old))
    gallery.add(GalleryFace(uuid.uuid4(), cases["recent_child"], _unit(0.2, 0, 0, 1), recent))
    return gallery, cases


def test_children_photographed_years_before_are_put_forward_by_rank_and_flagged() -> None:
    gallery, cases = _child_gallery()
    probe = _unit(1, 0, 0, 0)[None]
    policy = MatchPolicy(max_wrong=None, age_gap=AgeGapRule(candidates=1, floor_far=1e-1))
    ranking = rank_candidates(gallery, CALIBRATION, probe, k=1, policy=policy, probe_day=TODAY)
    [found] = ranking.candidates
    by_case = {candidate.case_id: candidate for candidate in found}
    assert by_case[cases["adult"]].above_threshold and by_case[cases["adult"]].age_gap is None
    child = by_case[cases["child_a"]]
    assert not child.above_threshold and child.for_review, "below threshold, yet put before reviewers"
    assert child.age_gap is not None and child.age_gap.reference_age_years == 6.0
    assert set(by_case) == {cases["adult"], cases["child_a"]}, "top 1 across the gap; the recent child is not"
    assert [c.similarity for c in found] == sorted((c.similarity for c in found), reverse=True)


def test_the_age_gap_floor_and_its_switch() -> None:
    gallery, cases = _child_gallery()
    probe = _unit(1, 0, 0, 0)[None]
    strict_floor = MatchPolicy(age_gap=AgeGapRule(candidates=3, floor_far=1e-2))
    [found] = rank_candidates(gallery, CALIBRATION, probe, k=1, policy=strict_floor, probe_day=TODAY).candidates
    assert {c.case_id for c in found} == {cases["adult"], cases["child_a"]}, "child_b is under the floor"
    off = MatchPolicy(age_gap=None)
    [found] = rank_candidates(gallery, CALIBRATION, probe, k=1, policy=off, probe_day=TODAY).candidates
    assert [c.case_id for c in found] == [cases["adult"]]
    [found] = rank_candidates(gallery, CALIBRATION, probe, k=1, policy=strict_floor, probe_day=None).candidates
    assert [c.case_id for c in found] == [cases["adult"]], "an undated search has no gap to measure"


def test_candidates_are_judged_at_the_gallerys_operating_point() -> None:
    gallery = CaseGallery()
    rng = np.random.default_rng(0)
    for vector in rng.normal(size=(2_000, 64)).astype(np.float32):
        gallery.add(GalleryFace(uuid.uuid4(), uuid.uuid4(), vector))
    probe = rng.normal(size=(1, 64)).astype(np.float32)
    ranking = rank_candidates(gallery, CALIBRATION, probe, k=20)
    assert ranking.point.gallery_faces == 2_000 and ranking.point.far == pytest.approx(5e-5)
    [found] = ranking.candidates
    assert all(c.above_threshold == (c.similarity >= ranking.point.threshold) for c in found)
    assert any(c.similarity >= CALIBRATION.threshold() and not c.above_threshold for c in found), (
        "a score above the pack's 1:1 threshold is not enough in a gallery of 2,000"
    )
