"""Property-based fuzzing of the live API against its own OpenAPI document.

schemathesis generates requests for every operation of ``/openapi.json`` (valid and
invalid parameters, bodies and headers) and checks each answer: never a 5xx, only
documented statuses and content types, bodies that match the documented schemas.
The budget is bounded (``EXAMPLES`` per operation, a few hundred requests in all) so
the run stays well under a minute; ``REELGATE_FUZZ_EXAMPLES`` raises it for a deeper
search. The gateway runs without a worker: jobs stay queued, nothing renders, and no
upstream is ever called. ``POST /admin/api/channels/{ref}/test`` is left out: it is
the one operation that dials out (to whatever base URL the fuzzer gave a channel).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import GatewayProcess

EXAMPLES = int(os.environ.get("REELGATE_FUZZ_EXAMPLES", "6"))
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
SKIPPED = {("POST", "/admin/api/channels/{ref}/test")}
schemathesis.serializer.alias("application/toml", "text/plain")  # the catalog file import
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("fuzz"), args=("--no-worker",),
                        env={"REELGATE_ADMIN_TOKEN": ADMIN_TOKEN})
    gw.start()
    yield gw
    gw.stop()


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> int:
    sent = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                          operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        case.validate_response(response, checks=CHECKS)

    run()
    return sent


def test_no_operation_answers_outside_its_schema(fuzz_gateway: GatewayProcess) -> None:
    key = fuzz_gateway.create_key("fuzzer", tenant="fuzz")
    schema = schemathesis.openapi.from_url(fuzz_gateway.root_url + "/openapi.json")
    failures: list[str] = []
    fuzzed = requests = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        token = ADMIN_TOKEN if operation.path.startswith("/admin/") else key
        try:
            requests += _fuzz(operation, fuzz_gateway.root_url,
                              {"Authorization": f"Bearer {token}"})
        except (Exception, BaseExceptionGroup) as exc:  # record it, go on to the next
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
        fuzzed += 1
    print(f"fuzzed {fuzzed} operations with {requests} requests")
    assert fuzzed >= 40, f"only {fuzzed} operations in the schema"
    assert not failures, "\n\n".join(failures)
