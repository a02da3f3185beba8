"""Schemathesis over the OpenAPI document, against a live uvicorn server on real PostGIS.

Every operation is fuzzed (positive and negative examples, a bounded number each) with the bearer
token of an admin, then of a field crew member, on a project with alerts and users of every role. No answer may be a 5xx, and every
status code must be one the document declares for that operation.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from supervision import models
from supervision.accounts import upsert_user
from tests.api.conftest import PASSWORD

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (content_type_conformance, not_a_server_error,  # noqa: E402
                                 response_schema_conformance, status_code_conformance)

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
#: Tested on their own (tests/api/routes/test_auth.py): fuzzing them would end the run's session.
SKIPPED = {("POST", "/auth/logout")}
ROLES = [("S002", "周强", "supervisor"), ("G001", "孙丽", "gis_officer"), ("A001", "李明", "admin")]


@pytest.fixture
def fuzzed_project(conn, project):
    """The canonical project with its alerts raised and one user of every role."""
    for username, name, role in ROLES:
        upsert_user(conn, username=username, name=name, role=role, password=PASSWORD)
    models.run_all(conn, "T-001")
    return project


@pytest.mark.parametrize("username", ["A001", "S001"])      # an admin (every route) and a field crew member
def test_no_server_error_and_no_undocumented_status(live_server, fuzzed_project, username):
    signed_in = httpx.post(f"{live_server.url}/auth/token", data={"username": username, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    document = httpx.get(f"{live_server.url}/openapi.json", headers=auth)
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(document.json())
    failures: list[str] = []
    calls: dict[str, int] = {}
    operations: set[str] = set()
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tested += 1
        operations.add(f"{operation.method.upper()} {operation.path}")
        for mode, examples in EXAMPLES.items():
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                response = case.call(base_url=live_server.url, headers=auth, timeout=30)
                key = f"{operation.method.upper()} {operation.path}"
                calls[key] = calls.get(key, 0) + 1
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                                content_type_conformance, response_schema_conformance])

            try:
                run()
            except Unsatisfiable:      # e.g. no negative example exists for an operation without parameters
                continue
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failing operation is listed
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): "
                                f"{type(exc).__name__}: {str(exc)[:1500]}")
    assert tested >= 10 and len(calls) == tested, sorted(operations - set(calls))  # every operation was called
    assert not failures, "\n\n".join(failures)
