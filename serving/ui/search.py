"""Search by photo: every face of an uploaded photo and the open cases that resemble it. Nothing is stored."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse

from pipeline.candidates import Candidate, Ranking
from pipeline.crops import encode_jpeg
from serving.api.deps import Photo, State
from serving.auth.policy import Action, authorize
from serving.services.faces import Analysis
from serving.ui.session import Posted, Signed, Viewer
from serving.ui.web import page_router, render
from storage.errors import NotFoundError
from storage.tables import Case

router = page_router()
CANDIDATES = 5


@dataclass(frozen=True)
class Hit:
    case: Case
    candidate: Candidate


@dataclass(frozen=True)
class FoundFace:
    crop_base64: str  # the aligned face, JPEG: the user's own upload, shown back and never stored
    box: list[float]
    score: float
    quality: float
    hits: list[Hit]


@router.get("/search")
def search_page(request: Request, viewer: Signed) -> HTMLResponse:
    authorize(viewer.user, Action.SEARCH)
    return render(request, "search.html", faces=None, pack=None)


@router.post("/search")
async def search(request: Request, state: State, viewer: Posted, photo: Photo) -> HTMLResponse:
    authorize(viewer.user, Action.SEARCH)
    analysis, ranking = await state.faces.search_for(viewer.user, photo.data, k=CANDIDATES)
    faces = await asyncio.to_thread(_found, state, viewer, analysis, ranking)
    return render(request, "search.html", faces=faces, pack=state.faces.pack, point=ranking.point)


def _found(state: State, viewer: Viewer, analysis: Analysis, ranking: Ranking) -> list[FoundFace]:
    located = analysis.located
    found = []
    for k, face in enumerate(located.faces.faces):
        hits = []
        for candidate in ranking.candidates[k] if ranking.candidates else []:
            try:
                hits.append(Hit(state.cases.get(viewer.user, candidate.case_id), candidate))
            except NotFoundError:
                continue  # erased since the matcher last heard of it
        found.append(
            FoundFace(
                crop_base64=base64.b64encode(encode_jpeg(located.crops[k])).decode(),
                box=[round(float(v)) for v in face.box],
                score=face.score,
                quality=face.quality,
                hits=hits,
            )
        )
    return found
