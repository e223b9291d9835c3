"""The API fuzzed from its own OpenAPI document (Schemathesis): no 5xx, and every answer as documented.

A bounded number of generated requests per operation, signed in as an administrator (who may call
nearly every route). Operations that reach out of the service (an external source's test and
sync) or that would hold real matches for minutes (taking the next one, claims) are left out.
Schemathesis's own pytest plugin does not run under this pytest, so the operations are walked here.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from storage.tables import Role
from tests.serving.conftest import Service

LEFT_OUT = ("/test", "/sync", "/review/next", "/claim")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 4  # per operation: about 300 requests in all


def test_the_api_keeps_its_contract(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {service.tokens[Role.ADMIN]}"}
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith(LEFT_OUT):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers, timeout=60)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            call()
        except Exception as failure:
            failures.append(f"{operation.label}: {str(failure)[:600]}")
    assert calls > 150, calls
    assert not failures, "\n\n".join(failures)
