"""The reference-photo gate: refuse only what cannot work, warn about the rest, let the caller choose."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import Face
from serving.errors import EnrolmentError
from serving.services.references import EnrolmentRules, FaceChoice, choose_reference

RULES = EnrolmentRules(min_face_size=24, soft_face_size=48, soft_sharpness=50)


def _face(x: float, y: float, side: float, sharpness: float = 300.0) -> Face:
    return Face(
        box=np.array([x, y, x + side, y + side], np.float32),
        landmarks=np.zeros((5, 2), np.float32),
        score=0.9,
        quality=0.8,
        sharpness=sharpness,
    )


def _code(faces: list[Face], **kwargs: object) -> str:
    with pytest.raises(EnrolmentError) as caught:
        choose_reference(faces, 250, 250, rules=RULES, **kwargs)  # type: ignore[arg-type]
    return caught.value.code


def test_a_clear_portrait_passes_without_warnings() -> None:
    chosen = choose_reference([_face(75, 75, 100)], 250, 250, rules=RULES)
    assert chosen.index == 0 and chosen.warnings == ()


def test_soft_and_small_faces_are_accepted_with_warnings_unless_strict() -> None:
    soft, small = _face(75, 75, 100, sharpness=20), _face(100, 100, 30)
    assert [w.code for w in choose_reference([soft], 250, 250, rules=RULES).warnings] == ["blurred"]
    assert [w.code for w in choose_reference([small], 250, 250, rules=RULES).warnings] == ["small_face"]
    assert _code([soft], strict=True) == "too_blurred"
    assert _code([small], strict=True) == "too_small"


def test_only_no_face_and_tiny_faces_are_refused() -> None:
    assert _code([]) == "no_face"
    assert _code([_face(100, 100, 16)]) == "too_small"


def test_a_bystander_is_left_out_with_a_warning() -> None:
    person, bystander = _face(70, 60, 110), _face(5, 10, 35)
    chosen = choose_reference([bystander, person], 250, 250, rules=RULES)
    assert chosen.index == 1 and [w.code for w in chosen.warnings] == ["other_faces"]
    assert _code([bystander, person], strict=True) == "several_faces"


def test_two_faces_alike_need_a_choice_by_index_or_box() -> None:
    left, right = _face(20, 80, 90), _face(140, 80, 90)
    assert _code([left, right]) == "several_faces"
    assert choose_reference([left, right], 250, 250, rules=RULES, choice=FaceChoice(index=1)).index == 1
    assert choose_reference([left, right], 250, 250, rules=RULES, choice=FaceChoice(box=(15, 75, 115, 175))).index == 0
    assert _code([left, right], choice=FaceChoice(index=2)) == "no_such_face"
    assert _code([left, right], choice=FaceChoice(box=(0, 0, 10, 10))) == "no_such_face"


def test_a_face_chosen_in_a_crowded_photo_passes_strict_mode() -> None:
    left, right = _face(20, 80, 90), _face(140, 80, 90)
    chosen = choose_reference([left, right], 250, 250, rules=RULES, choice=FaceChoice(index=0), strict=True)
    assert chosen.index == 0 and [w.code for w in chosen.warnings] == ["other_faces"]
