"""Schemathesis fuzzes every operation of /api/schema/ against the running site.

It signs in as staff (a token), so it reaches the code behind the permission
checks; any 5xx the schema does not promise fails (a documented 503, such as
the YouTube search's "YouTube cannot be reached", is an answer, not a crash).
New endpoints are fuzzed automatically. (Schemathesis'
pytest loader reads a private attribute pytest 9 removed, so the operations
are walked with its Python API instead.)
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.generation import GenerationMode

pytestmark = [pytest.mark.slow]


def fuzz(operation, *, base_url: str, token: str, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        response = case.call(base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=30)
        documented = set(operation.definition.raw.get("responses", {}))
        if response.status_code >= 500 and str(response.status_code) not in documented:
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}\n"
                f"reproduce: {case.as_curl_command()}"
            )

    run()


def test_no_input_makes_the_api_answer_5xx(live_site, staff_user):
    token = Token.objects.create(user=staff_user).key
    schema = schemathesis.openapi.from_url(f"{live_site.url}/api/schema/", timeout=30)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, base_url=live_site.url, token=token, mode=mode)
            except Unsatisfiable:
                continue  # an operation without inputs has nothing to make invalid
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 1
    assert failures == [], "\n\n".join(failures) + f"\n\nsite log:\n{live_site.log()}"
