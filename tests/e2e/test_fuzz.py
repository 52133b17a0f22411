"""Schemathesis against the OpenAPI schema of a running server, authenticated: no route may answer
5xx or a response outside its documented schema, whatever the input."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.api_support import ServerProcess, ingest_demo

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
async def fuzz_server(settings_factory):
    settings = settings_factory("fuzz")
    await ingest_demo(settings)
    process = ServerProcess(settings.data_dir, ROUTEUR_RATE_LIMIT_PER_MINUTE="100000").start()
    yield process
    process.stop()


def _fuzz(operation, headers: dict[str, str], calls: list[str], failures: list[str]) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def check(case) -> None:
        calls.append(operation.label)
        response = case.call(headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except Exception as exc:  # recorded (schemathesis raises groups), so every operation runs fully
            failures.append(f"{operation.label} -> {response.status_code}: {str(exc)[:300]}")

    check()


def test_every_route_survives_generated_input(fuzz_server):
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/schema/openapi.json")
    headers = fuzz_server.token()
    calls: list[str] = []
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        _fuzz(operation, headers, calls, failures)
    print(f"fuzz: {len(calls)} requests over {len(operations)} operations")
    assert len(operations) >= 15 and len(set(calls)) == len(operations)
    assert len(calls) >= 5 * len(operations)  # every route really exercised
    assert not failures, "\n".join(dict.fromkeys(failures))
