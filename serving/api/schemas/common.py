"""Shared shapes: strict request bodies and paginated lists."""

from __future__ import annotations

from typing import Generic, TypeVar

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
