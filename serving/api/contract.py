"""The OpenAPI document says what the handlers do: every error response is a ``Problem``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEMS = ("#/components/schemas/Problem", "#/components/schemas/EnrolmentProblem")


def document_problems(application: FastAPI) -> None:
    """Make the app's OpenAPI document name ``Problem`` for every 4xx/5xx, FastAPI's own 422 included."""
    build = application.openapi

    def openapi() -> dict[str, Any]:
        if application.openapi_schema:
            return application.openapi_schema
        schema = build()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                _problems_only(operation.get("responses", {}))
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        application.openapi_schema = schema
        return schema

    application.openapi = openapi  # type: ignore[method-assign]


def _problems_only(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        if not status.startswith(("4", "5")):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") not in PROBLEMS:
            response["content"] = {"application/json": {"schema": {"$ref": PROBLEMS[0]}}}
