"""Property-based API testing from the OpenAPI schema: no 5xx, every status and body as documented.

Runs against a real server on PostgreSQL only (the stricter engine: NUL bytes, types, ranges),
with a bounded number of examples per operation to stay well inside the suite's time budget.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def engine() -> str:
    """Overrides the both-engines fixture for this module."""
    return "postgres"


@pytest.fixture
def auth_headers(make_key) -> dict[str, str]:
    key = make_key("*", "admin", "schemathesis")
    return {"Authorization": f"Bearer {key}", "X-API-Key": key}


@pytest.fixture
def search_service(tmp_path):
    """GET /api/search is answered by a worker's embedding service: a stand-in one, on an empty store."""
    from conveyor.etl.embeddings.service import use_service
    from tests.embedding_tasks import stand_in_service

    service = stand_in_service(tmp_path / "vectors")
    use_service(service)
    yield service
    use_service(None)
    service.close()


@pytest.fixture
def api_schema(app, api_server, auth_headers, start_worker, search_service):
    start_worker(["high", "default", "low", "embedding_search"])  # so that enqueues and searches can succeed
    app.enqueue("t.add", [1, 2])  # something to list, read and act on
    app.enqueue("t.add", [1, 2], policy="record_failed", queue="reports")
    server = api_server(enqueue_rate=0)  # the rate limit has its own test
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json", headers=auth_headers)
    schema.config.update(base_url=server.url)
    return schema.include(path_regex="^/api/")


MAX_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


def test_openapi_conformance(api_schema, auth_headers):
    """Each operation, positive and negative data. (schemathesis' own pytest plugin does not run
    under this pytest version, so the operations are driven here with its Python API.)"""
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in MAX_EXAMPLES.items():

            @settings(
                max_examples=examples,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(case=operation.as_strategy(mode, headers=auth_headers))
            def check(case):
                case.call_and_validate(headers=auth_headers, checks=CHECKS, timeout=30)

            try:
                check()
            except Unsatisfiable:
                pass  # negative mode: nothing to break (no parameters, or free-form strings only)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not just the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
