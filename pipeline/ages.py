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
_EPOCH = date(1970, 1, 1).toordinal()


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
    """Years from ``start`` to ``end`` by the calendar (negative when ``end`` comes first)."""
    return float(calendar_years(np.array([_day(start).toordinal()]), np.array([_day(end).toordinal()]))[0])


def calendar_years(start: NDArray[np.int64], end: NDArray[np.int64]) -> NDArray[np.float64]:
    """Years between ordinal days (``date.toordinal``), broadcast: whole years by the calendar (the
    same day N years later is N, a birthday makes a year older) plus the part of the next year;
    negative when ``end`` comes first."""
    start, end = np.broadcast_arrays(np.asarray(start, np.int64), np.asarray(end, np.int64))
    early, late = np.minimum(start, end), np.maximum(start, end)
    (early_year, early_day), (late_year, late_day) = _calendar(early), _calendar(late)
    whole = late_year - early_year - (late_day < early_day)
    part = np.clip((late - early) / DAYS_PER_YEAR - whole, 0.0, 0.999)
    return np.sign(end - start) * (whole + part)


def _calendar(ordinals: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(year, month × 100 + day) of each ordinal day."""
    days = (ordinals - _EPOCH).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    return year, month * 100 + (days - months).astype(np.int64) + 1


def _years_after(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February outside leap years)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def photo_age(
    *,
    taken_at: datetime | None,
    date_of_birth: date | None,
    stated_age: float | None,
    last_seen_at: datetime | None,
) -> PhotoAge | None:
    """The person's age in a reference photo and the photo's day, from what the case knows.

    The age is the one stated for the photo, else the years from the date of birth to when it was
    taken. An undated photo gets the latest day it can have been taken: the day before the
    birthday after the stated age, and no later than the day the person was last seen (a family's
    photo is no later than that). None when either is unknown, or when the dates put the photo
    before the birth.
    """
    age = stated_age
    if age is None and date_of_birth is not None and taken_at is not None:
        age = years_between(date_of_birth, taken_at)
    if age is None or age < 0:
        return None
    if taken_at is not None:
        return PhotoAge(_day(taken_at), age)
    latest = [_day(last_seen_at)] if last_seen_at is not None else []
    if date_of_birth is not None:
        latest.append(_years_after(date_of_birth, int(age) + 1) - timedelta(days=1))
    return PhotoAge(min(latest), age) if latest else None


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
