"""Shared shapes: strict request bodies and paginated lists."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

Item = TypeVar("Item")


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Patch(Strict):
    """A partial update: fields left out stay as they are; ``null`` is refused for fields that must hold a value."""

    required: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(name for name in cls.required if name in data and data[name] is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null: leave the field out to keep its value")
        return data


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int = Field(description="How many items match the filters in all.")
    page: int
    page_size: int


class FieldProblem(BaseModel):
    field: str = Field(description="Where: body.full_name, query.page, path.case_id …")
    reason: str


class Problem(BaseModel):
    """Every error response: what kind of error, and why."""

    error: str = Field(description="The error's kind, e.g. PermissionDeniedError, invalid_request or no_face.")
    detail: str = Field(description="Why, in words.")
    fields: list[FieldProblem] | None = Field(default=None, description="Invalid requests: the reason per field.")


Shape = TypeVar("Shape", bound=BaseModel)


def page_of(shape: type[Shape], found: Any) -> Page[Shape]:
    """A repository page (``storage.repositories.common.Page``) as the API's page of ``shape``."""
    items = [shape.model_validate(row, from_attributes=True) for row in found.items]
    return Page[shape](items=items, total=found.total, page=found.page, page_size=found.page_size)  # type: ignore[valid-type]
