"""The web page people use, served by the Gateway at /ui: server-rendered, a little plain JS, strict CSP.

``router`` holds every page; ``create_app`` includes it. It calls the same services as the API.
"""

from __future__ import annotations

from fastapi import APIRouter

from serving.ui import account, cases, images, jobs, review, search
from serving.ui.web import PREFIX, UiRoute, assets, page_router
from storage.errors import NotFoundError

router = APIRouter(prefix=PREFIX, include_in_schema=False)
router.add_api_route("", account.home, methods=["GET"], route_class_override=UiRoute)
for _pages in (account.router, review.router, cases.router, search.router, jobs.router, images.router, assets):
    router.include_router(_pages)

_unknown = page_router()


@_unknown.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(path: str) -> None:
    """Any other /ui address: the not-found page, with the same headers as every page."""
    raise NotFoundError("no such page")


router.include_router(_unknown)

__all__ = ["router"]
