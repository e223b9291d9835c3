"""Shared shapes: strict request bodies and paginated lists."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int = Field(description="How many items match the filters in all.")
    page: int
    page_size: int


class Problem(BaseModel):
    """Every error response: what kind of error, and why."""

    error: str = Field(description="The error's kind, e.g. PermissionDeniedError or no_face.")
    detail: str = Field(description="Why, in words.")


Shape = TypeVar("Shape", bound=BaseModel)


def page_of(shape: type[Shape], found: Any) -> Page[Shape]:
    """A repository page (``storage.repositories.common.Page``) as the API's page of ``shape``."""
    items = [shape.model_validate(row, from_attributes=True) for row in found.items]
    return Page[shape](items=items, total=found.total, page=found.page, page_size=found.page_size)  # type: ignore[valid-type]
