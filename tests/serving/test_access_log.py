"""One line per request with its id, route template, status and time; nothing of the request itself."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from serving.api.access_log import AccessLog


def _app(log_format: str) -> FastAPI:
    app = FastAPI()

    @app.post("/cases/{case_id}")
    async def touch(case_id: str) -> dict[str, str]:
        return {"ok": case_id}

    app.add_middleware(AccessLog, log_format=log_format)
    return app


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_request_is_one_line_without_its_data(caplog: pytest.LogCaptureFixture, log_format: str) -> None:
    caplog.set_level(logging.INFO, logger="ray.serve.sura.requests")
    transport = httpx.ASGITransport(app=_app(log_format))

    async def call() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            given = await client.post(
                "/cases/Wanjiku?name=Wanjiku", json={"full_name": "Wanjiku"}, headers={"X-Request-ID": "abc-123"}
            )
            made = await client.get("/nowhere", headers={"X-Request-ID": "not plain!"})
            return [given, made]

    given, made = asyncio.run(call())
    assert given.headers["x-request-id"] == "abc-123" and len(made.headers["x-request-id"]) == 32
    lines = [r.getMessage() for r in caplog.records if r.name == "ray.serve.sura.requests"]
    assert len(lines) == 2 and all("Wanjiku" not in line for line in lines)
    if log_format == "json":
        first = json.loads(lines[0])
        assert first | {"ms": 0} == {
            "request_id": "abc-123",
            "method": "POST",
            "route": "/cases/{case_id}",
            "status": 200,
            "ms": 0,
        }
        assert json.loads(lines[1])["status"] == 404
    else:
        assert "abc-123 POST /cases/{case_id} 200" in lines[0] and " 404 " in lines[1]
