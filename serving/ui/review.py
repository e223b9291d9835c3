"""The review queue and the compare view: take or hold a match, see both faces, decide."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from serving.api.deps import State
from serving.auth.policy import Action
from serving.services.references import EnrolmentRules
from serving.ui.session import Posted, Signed, Viewer
from serving.ui.web import PREFIX, clock, holder, page_router, redirect, render
from storage.repositories.matches import ALLOWED
from storage.tables import Match, ReviewDecision, ReviewStatus

router = page_router()
PAGE_SIZE = 25


@dataclass(frozen=True)
class Desk:
    """What this reviewer may do with the match now; ``why_not`` says what stops them."""

    decisions: frozenset[ReviewDecision]
    undecided: bool
    held_by_me: bool
    may_hold: bool
    why_not: str | None


def desk_for(viewer: Viewer, match: Match, *, two_person_rule: bool) -> Desk:
    """The buttons to offer. The service decides again on every POST; this only avoids offering dead ends."""
    me, held_by = viewer.user.id, holder(match)
    allowed = set(ALLOWED[match.status]) if viewer.may(Action.REVIEW_MATCH) else set()
    why_not = None if allowed else "Your role does not review matches."
    if held_by not in (None, me):
        allowed, why_not = set(), f"Another reviewer holds this match until {clock(match.claimed_until)}."
    if match.first_confirmed_by_id == me:
        allowed.discard(ReviewDecision.CONFIRM)
        why_not = "You gave the first confirmation: the deciding one is another reviewer's."
    elif match.first_confirmed_by_id is not None and two_person_rule and not viewer.may(Action.CONFIRM_MATCH):
        allowed.discard(ReviewDecision.CONFIRM)
        why_not = "The deciding, second confirmation is a supervisor's."
    if match.status is ReviewStatus.CONFIRMED and not viewer.may(Action.REOPEN_MATCH):
        allowed.discard(ReviewDecision.REOPEN)
    undecided = ReviewDecision.CONFIRM in ALLOWED[match.status]
    return Desk(
        decisions=frozenset(allowed),
        undecided=undecided,
        held_by_me=held_by == me,
        may_hold=undecided and bool(allowed) and held_by is None,
        why_not=why_not,
    )


def _match_url(match_id: uuid.UUID) -> str:
    return f"{PREFIX}/matches/{match_id}"


@router.get("/queue")
def queue(
    request: Request,
    state: State,
    viewer: Signed,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    empty: bool = False,
) -> HTMLResponse:
    found = state.matches.queue(viewer.user, page=page, page_size=PAGE_SIZE)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    return render(request, "queue.html", found=found, pages=pages, empty=empty)


@router.post("/queue/next")
def take_next(state: State, viewer: Posted) -> Response:
    """Hold the first match nobody else holds and open it."""
    view = state.matches.take_next(viewer.user)
    return redirect(_match_url(view.match.id) if view else f"{PREFIX}/queue?empty=true")


@router.get("/matches/{match_id}")
def compare(
    request: Request, match_id: uuid.UUID, state: State, viewer: Signed, decided: ReviewDecision | None = None
) -> HTMLResponse:
    """The sighting face beside every reference face of the case, and the decision."""
    view = state.matches.detail(viewer.user, match_id)
    reviews = state.matches.reviews(viewer.user, match_id)
    desk = desk_for(viewer, view.match, two_person_rule=state.matches.two_person_rule)
    return render(
        request,
        "match.html",
        view=view,
        reviews=reviews,
        desk=desk,
        decided=decided,
        soft_face=EnrolmentRules().soft_face_size,
    )


@router.post("/matches/{match_id}/hold")
def hold(match_id: uuid.UUID, state: State, viewer: Posted) -> Response:
    """Hold the match while you look at it (a few minutes), so nobody else works on it meanwhile."""
    state.matches.claim(viewer.user, match_id)
    return redirect(_match_url(match_id))


@router.post("/matches/{match_id}/release")
def release(match_id: uuid.UUID, state: State, viewer: Posted) -> Response:
    state.matches.release(viewer.user, match_id)
    return redirect(f"{PREFIX}/queue")


@router.post("/matches/{match_id}/review")
def decide(
    match_id: uuid.UUID,
    state: State,
    viewer: Posted,
    decision: Annotated[ReviewDecision, Form()],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    state.matches.review(viewer.user, match_id, decision, note.strip() or None)
    return redirect(f"{_match_url(match_id)}?decided={decision.value}")
