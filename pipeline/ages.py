"""Ages and age gaps: how old the person is in a reference photo, and when a threshold cannot be trusted.

Faces change most in childhood. A child's reference photo compared with a photo taken years
later scores the right person low and wrong people high, so those comparisons are put before
reviewers by rank (the best few cases, flagged), not by the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class PhotoAge:
    """When a reference photo was taken (or the latest day it can have been) and the person's age in it."""

    taken_on: date
    age_years: float


@dataclass(frozen=True)
class AgeGapRule:
    """Which comparisons are put forward by rank.

    child_under: an age (years) below which a reference photo shows a child; min_years: how much
    later a photo must be taken to count as years later; candidates: cases put forward per face
    searched; floor_far: the loosest calibrated false-accept rate a candidate must still reach
    (keeps the plainly different out).
    """

    child_under: float = 18.0
    min_years: float = 3.0
    candidates: int = 3
    floor_far: float = 0.1


@dataclass(frozen=True)
class AgeGap:
    """A comparison across an age gap: the person's age in the reference photo and the years since."""

    reference_age_years: float
    years_apart: float

    @classmethod
    def of(cls, age_years: float, years_apart: float) -> AgeGap:
        return cls(reference_age_years=round(float(age_years), 1), years_apart=round(float(years_apart), 1))


def years_between(start: date | datetime, end: date | datetime) -> float:
    """Years from ``start`` to ``end`` (negative when ``end`` comes first)."""
    return (_day(end) - _day(start)).days / DAYS_PER_YEAR


def photo_age(
    *,
    taken_at: datetime | None,
    date_of_birth: date | None,
    stated_age: float | None,
    last_seen_at: datetime | None,
) -> PhotoAge | None:
    """The person's age in a reference photo and the photo's day, from what the case knows.

    The age is the one stated for the photo, else the years from the date of birth to when it was
    taken. An undated photo is dated from the date of birth and the stated age, else by the day
    the person was last seen (a family's photo is no later than that). None when either is unknown.
    """
    age = stated_age
    if age is None and date_of_birth is not None and taken_at is not None:
        age = years_between(date_of_birth, taken_at)
    if age is None:
        return None
    if taken_at is not None:
        return PhotoAge(_day(taken_at), age)
    if date_of_birth is not None:
        return PhotoAge(date_of_birth + timedelta(days=round(age * DAYS_PER_YEAR)), age)
    if last_seen_at is not None:
        return PhotoAge(_day(last_seen_at), age)
    return None


def age_gap(rule: AgeGapRule, photo: PhotoAge, probe_day: date) -> AgeGap | None:
    """The gap when ``photo`` shows a child and the probe was taken at least ``rule.min_years`` later."""
    apart = years_between(photo.taken_on, probe_day)
    if across_gap(rule, np.array([photo.age_years]), np.array([apart]))[0]:
        return AgeGap.of(photo.age_years, apart)
    return None


def across_gap(rule: AgeGapRule, ages: NDArray[np.float64], years_apart: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(N,) which reference photos, of a person aged ``ages`` and taken ``years_apart`` before the
    probe, the rule puts forward by rank."""
    return (ages < rule.child_under) & (years_apart >= rule.min_years)


def _day(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment
