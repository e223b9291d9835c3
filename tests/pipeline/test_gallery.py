"""Candidates and their meaning: the operating point as the gallery grows, children's photos across an age gap."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pytest

from pipeline.ages import AgeGapRule, PhotoAge, age_gap, photo_age, years_between
from pipeline.calibration import Calibration, operating_point
from pipeline.candidates import MatchPolicy, rank_candidates
from pipeline.gallery import CaseGallery, GalleryFace

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
    assert stated is not None and stated.taken_on == date(2015, 5, 31), "the latest day a 4-year-old's photo can be"
    seen = photo_age(taken_at=None, date_of_birth=born, stated_age=4.0, last_seen_at=datetime(2015, 1, 2))
    assert seen is not None and seen.taken_on == date(2015, 1, 2), "and no later than the last sighting"
    before_birth = photo_age(taken_at=datetime(2009, 1, 1), date_of_birth=born, stated_age=None, last_seen_at=None)
    assert before_birth is None, "a photo dated before the birth tells no age"
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


def test_years_count_by_the_calendar() -> None:
    rule = AgeGapRule(child_under=18, min_years=3)
    assert age_gap(rule, PhotoAge(date(2021, 1, 1), 10.0), date(2024, 1, 1)) is not None, "three years to the day"
    assert age_gap(rule, PhotoAge(date(2021, 1, 1), 10.0), date(2023, 12, 31)) is None
    assert years_between(date(2001, 1, 1), date(2019, 1, 1)) == 18.0, "18 on the 18th birthday"
    assert 17.99 < years_between(date(2001, 1, 1), date(2018, 12, 31)) < 18.0
    assert years_between(date(2019, 1, 1), date(2001, 1, 1)) == -18.0
    adult = photo_age(taken_at=datetime(2019, 1, 1), date_of_birth=date(2001, 1, 1), stated_age=None, last_seen_at=None)
    assert adult is not None and age_gap(rule, adult, TODAY) is None, "an 18-year-old's photo shows no child"


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


def test_a_case_put_forward_across_the_gap_shows_the_childs_photo() -> None:
    case, adult_photo, child_photo = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    gallery = CaseGallery()
    gallery.add(GalleryFace(adult_photo, case, _unit(0.25, 1, 0), PhotoAge(date(2025, 1, 1), 20.0)))
    gallery.add(GalleryFace(child_photo, case, _unit(0.15, 0, 1), PhotoAge(date(2010, 1, 1), 5.0)))
    policy = MatchPolicy(max_wrong=None, age_gap=AgeGapRule())
    ranking = rank_candidates(gallery, CALIBRATION, _unit(1, 0, 0)[None], k=1, policy=policy, probe_day=TODAY)
    [[candidate]] = ranking.candidates
    assert candidate.age_gap is not None and candidate.age_gap.reference_age_years == 5.0
    assert candidate.reference_face_id == child_photo, "the photo that puts the case forward, not the adult's"
    assert candidate.similarity == pytest.approx(0.15 / np.sqrt(0.15**2 + 1), abs=1e-6)
    assert candidate.false_accept_rate == pytest.approx(CALIBRATION.false_accept_rate(np.array([0.1483]))[0], rel=0.01)


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


CENTROIDS = Calibration(
    points=((1e-1, 0.10), (1e-3, 0.30), (1e-5, 0.50)),
    source="test",
    centroid=((2, ((1e-1, 0.20), (1e-3, 0.25), (1e-5, 0.45))), (3, ((1e-1, 0.22), (1e-3, 0.27), (1e-5, 0.47)))),
)


def _towards(similarity: float, axis: int, size: int = 8) -> np.ndarray:
    """A unit vector at ``similarity`` to the first axis, the rest along ``axis``."""
    vector = np.zeros(size, np.float32)
    vector[0], vector[axis] = similarity, np.sqrt(1 - similarity**2)
    return vector


def test_a_case_of_several_photos_also_passes_by_the_centroid_of_its_photos() -> None:
    pair, single, nearer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    gallery = CaseGallery()
    gallery.add(GalleryFace(uuid.uuid4(), pair, _towards(0.28, 1)))
    gallery.add(GalleryFace(uuid.uuid4(), pair, _towards(0.28, 2)))  # together: 0.38 to the probe
    gallery.add(GalleryFace(uuid.uuid4(), single, _towards(0.28, 3)))
    gallery.add(GalleryFace(uuid.uuid4(), nearer, _towards(0.29, 4)))
    ranking = rank_candidates(gallery, CENTROIDS, _towards(1.0, 1)[None], k=1)
    point = ranking.point
    assert (point.gallery_faces, point.comparisons, point.far) == (4, 5, 1e-3)
    assert point.centroid_threshold(2) == pytest.approx(0.25) and point.centroid_threshold(7) == pytest.approx(0.27)
    [found] = ranking.candidates
    by_case = {candidate.case_id: candidate for candidate in found}
    assert set(by_case) == {nearer, pair}, "the top 1 by best photo, and the case whose centroid passes"
    assert not by_case[nearer].above_threshold and by_case[nearer].centroid is None
    passed = by_case[pair]
    assert passed.above_threshold and passed.similarity == pytest.approx(0.28, abs=1e-6)
    assert passed.centroid is not None and passed.centroid.photos == 2
    assert passed.centroid.similarity == pytest.approx(0.56 / np.sqrt(0.56**2 + 2 * (1 - 0.28**2)), abs=1e-5)
    assert passed.centroid.false_accept_rate < 1e-3
    without = rank_candidates(gallery, replace(CENTROIDS, centroid=()), _towards(1.0, 1)[None], k=1)
    assert [c.case_id for c in without.candidates[0]] == [nearer] and without.point.comparisons == 4


def test_centroids_count_in_the_expected_wrong_cases() -> None:
    point = operating_point(CENTROIDS, 900, max_wrong=0.1, multi_photo_cases=100)
    assert point.comparisons == 1_000 and point.far == pytest.approx(1e-4)
    assert point.expected_wrong == pytest.approx(0.1)


def test_a_centroid_table_measured_less_far_than_the_point_is_left_out() -> None:
    short = replace(CALIBRATION, centroid=((2, ((1e-1, 0.20), (1e-2, 0.30), (1e-3, 0.40))),))
    assert operating_point(short, 100, max_wrong=None, multi_photo_cases=10).centroid_thresholds == (
        (2, pytest.approx(0.40)),
    )
    strict = operating_point(short, 1_000_000, max_wrong=0.1, multi_photo_cases=10)
    assert strict.far == pytest.approx(1e-6) and strict.centroid_threshold(2) is None, (
        "no threshold at 1e-6 read off a table that ends at 1e-3"
    )
