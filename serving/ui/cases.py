"""Cases: the list, a case's page with its reference photos and matches, adding a photo (and choosing
the face when the photo shows several)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from serving.api.deps import Photo, State
from serving.auth.policy import Action
from serving.errors import EnrolmentError, PermissionDeniedError, UploadError, UploadTooLargeError, status_for
from serving.services.faces import Intake
from serving.services.references import FaceChoice
from serving.ui.session import Posted, Signed, Viewer, check_form
from serving.ui.web import page_router, render
from storage.errors import InvalidArgumentError, NotFoundError
from storage.tables import Role

router = page_router()
PAGE_SIZE = 25
Found = TypeVar("Found")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")


def visible(viewer: Viewer, look: Callable[[], Found]) -> Found:
    """To a reporter, another reporter's case reads as one that does not exist."""
    try:
        return look()
    except PermissionDeniedError as error:
        if viewer.user.role is Role.REPORTER:
            raise NotFoundError("no such case") from error
        raise


def case_context(state: State, viewer: Viewer, case_id: uuid.UUID) -> dict[str, Any]:
    case = visible(viewer, lambda: state.cases.get(viewer.user, case_id))
    matches = None
    if viewer.may(Action.READ_MATCHES):
        matches = state.matches.find(viewer.user, case_ids=[case_id], page=1, page_size=100)
    return {"case": case, "faces": state.cases.reference_faces(viewer.user, case_id), "matches": matches}


@router.get("/cases")
def cases(
    request: Request, state: State, viewer: Signed, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> HTMLResponse:
    """Cases, newest first; reporters see only theirs."""
    return _case_list(request, state, viewer, "", page)


@router.post("/cases")
def find_cases(
    request: Request,
    state: State,
    viewer: Posted,
    q: Annotated[str, Form(max_length=200)] = "",
    page: Annotated[int, Form(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Cases whose names or aliases begin with the words of ``q``: posted, so that no name is in a URL (or a log)."""
    return _case_list(request, state, viewer, q.strip(), page)


def _case_list(request: Request, state: State, viewer: Viewer, q: str, page: int) -> HTMLResponse:
    found = state.cases.find(viewer.user, text=q or None, page=page, page_size=PAGE_SIZE)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    return render(request, "cases.html", found=found, pages=pages, q=q)


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: uuid.UUID, state: State, viewer: Signed) -> HTMLResponse:
    context = case_context(state, viewer, case_id)
    return render(request, "case.html", added=None, problem=None, **context)


@router.post("/cases/{case_id}/photos")
async def add_photo(
    request: Request,
    case_id: uuid.UUID,
    state: State,
    viewer: Posted,
    photo: Photo,
    taken_on: Annotated[str, Form(max_length=10)] = "",
    age: Annotated[str, Form(max_length=8)] = "",
    strict: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """A reference photo; with several faces and none standing out, the next page asks which one."""
    intake = Intake(strict=strict, taken_at=_noon(taken_on), age_years=_age(age))
    return await _enrol(request, state, viewer, case_id, photo.data, photo.suffix, intake)


@router.post("/cases/{case_id}/photos/choose")
async def choose_face(request: Request, case_id: uuid.UUID, state: State, viewer: Signed) -> HTMLResponse:
    """The face chosen on the choose-face page. The photo travels in the form (its digest checked),
    or, when too large for that, is chosen again."""
    form = await request.form(max_part_size=state.max_upload_bytes * 2)
    check_form(request, viewer, _text(form, "csrf"))
    data = await _held_photo(form, state.max_upload_bytes)
    try:
        index = int(_text(form, "face"))
    except ValueError:
        raise InvalidArgumentError("choose one of the faces") from None
    suffix = _text(form, "suffix")
    intake = Intake(
        choice=FaceChoice(index=index),
        strict=_text(form, "strict") == "true",
        taken_at=_noon(_text(form, "taken_on")),
        age_years=_age(_text(form, "age")),
    )
    return await _enrol(request, state, viewer, case_id, data, suffix if _SUFFIX.match(suffix) else "", intake)


async def _enrol(
    request: Request, state: State, viewer: Viewer, case_id: uuid.UUID, data: bytes, suffix: str, intake: Intake
) -> HTMLResponse:
    try:
        enrolment = await state.faces.enrol(case_id, data, suffix=suffix, user=viewer.user, intake=intake)
    except EnrolmentError as error:
        # Strict mode refuses crowded photos whichever face is chosen: choosing helps only without it.
        if error.code == "several_faces" and len(error.faces) > 1 and not (intake.choice or intake.strict):
            return _choose_page(request, case_id, data, suffix, intake, error, state.max_upload_bytes)
        return await _refused(request, state, viewer, case_id, error)
    except PermissionDeniedError:  # to a reporter who may not even see the case: not found
        await asyncio.to_thread(visible, viewer, lambda: state.cases.get(viewer.user, case_id))
        raise
    except Exception as error:  # what the photo or the case's state refuses: say so on the case page
        if not 400 <= status_for(error) < 500 or isinstance(error, NotFoundError):
            raise
        return await _refused(request, state, viewer, case_id, error)
    context = await asyncio.to_thread(case_context, state, viewer, case_id)
    return render(request, "case.html", added=enrolment, problem=None, **context)


async def _refused(
    request: Request, state: State, viewer: Viewer, case_id: uuid.UUID, error: Exception
) -> HTMLResponse:
    context = await asyncio.to_thread(case_context, state, viewer, case_id)
    return render(request, "case.html", status=status_for(error), added=None, problem=str(error), **context)


def _choose_page(
    request: Request, case_id: uuid.UUID, data: bytes, suffix: str, intake: Intake, error: EnrolmentError, limit: int
) -> HTMLResponse:
    encoded = base64.b64encode(data).decode()
    return render(
        request,
        "choose_face.html",
        status=422,
        case_id=case_id,
        faces=error.faces,
        reason=str(error),
        held=encoded if len(encoded) <= limit else None,  # else the body limit would refuse the form
        digest=hashlib.sha256(data).hexdigest(),
        suffix=suffix,
        taken_on=intake.taken_at.date().isoformat() if intake.taken_at else "",
        age="" if intake.age_years is None else f"{intake.age_years:g}",
        strict=intake.strict,
    )


async def _held_photo(form: FormData, limit: int) -> bytes:
    held, upload = form.get("photo_b64"), form.get("photo")
    if isinstance(held, str) and held:
        try:
            data = base64.b64decode(held, validate=True)
        except binascii.Error:
            raise UploadError("the photo in the form is damaged: add it again") from None
    elif isinstance(upload, UploadFile):
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise UploadTooLargeError(f"the photo is larger than {limit} bytes")
    else:
        raise UploadError("choose the photo again")
    if hashlib.sha256(data).hexdigest() != _text(form, "digest"):
        raise InvalidArgumentError("this is not the photo whose faces were shown: choose the same photo")
    return data


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _age(text: str) -> float | None:
    """The person's age in the photo from the form's field (empty: not known)."""
    if not text.strip():
        return None
    try:
        age = float(text)
    except ValueError:
        raise InvalidArgumentError("the age in the photo is not a number of years") from None
    if not 0 <= age <= 130:
        raise InvalidArgumentError("the age in the photo must lie between 0 and 130 years")
    return age


def _noon(day: str) -> datetime | None:
    """A date from a date field as noon UTC that day (a photo's day is what people know)."""
    if not day:
        return None
    try:
        return datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=12), tzinfo=UTC)
    except ValueError:
        raise InvalidArgumentError("the date taken is not a date (YYYY-MM-DD)") from None
