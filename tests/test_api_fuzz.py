"""Schemathesis fuzzes every operation of /api/schema/ against the running site, with all
its checks, as each persona: staff, a room's host, a guest singer of that room, anonymous.

Every answer must be one the schema promises: its status documented, its body the
documented shape (every error the one `{"message", "extra"}` shape, which is also
checked on its own), a schema-valid request not refused as invalid, a schema-violating
one not accepted, and an operation that names credentials refusing a request without
them. Any finding fails the test, listed by kind. New endpoints are fuzzed
automatically.

The examples are fixed (derandomized, no example database): a finding is reproducible
and never a matter of luck. (Schemathesis' pytest loader reads a private attribute
pytest 9 removed, so the operations are walked with its Python API instead.)
"""

import json
import os
from collections import defaultdict

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode

from songs.models import Song
from tests.factories import QueueEntryFactory, RoomFactory, SingerFactory, SongFactory

pytestmark = [pytest.mark.slow]

# Examples per operation, persona and mode (valid and invalid data): about 5,000 requests
# in all, a couple of minutes on a 2-core machine.
# FUZZ_EXAMPLES=50 looks further, locally.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 12))

# What the schema cannot say, per operation: only these statuses are added to what a
# check accepts, each for a reason a schema cannot express.
SERVER_ERRORS = ["2xx", "3xx", "4xx"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis' own default
EXCEPTIONS = [
    # YouTube cannot be reached from the test machine: the searches (and a request, which
    # looks its video up) answer their documented 503 ("YouTube cannot be reached"),
    # an answer, not a crash.
    {"include-path-regex": "/youtube/|/requests/", "checks": {"not_a_server_error": {"expected-statuses": [*SERVER_ERRORS, "503"]}}},
    # A schema-valid request that is still a 400, by what it refers to or contains:
    # a guest must give a name to join, an account need not (the schema cannot say who asks);
    {"include-name": "POST /api/rooms/{code}/join/", "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
    # a song id that names no song of the library, or a deleted or failed one (docs/api.md);
    {"include-name": ["POST /api/rooms/{code}/queue/", "PATCH /api/rooms/{code}/queue/{entry_id}/"],
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
    # a seek without its position (the schema's fields do not depend on one another);
    {"include-name": "POST /api/rooms/{code}/player/", "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
    # lyrics that look like LRC (a `[00:12.34]` or tag line) and are not valid LRC;
    {"include-name": "PATCH /api/songs/{id}/", "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
    # a link yt-dlp cannot import, a text that is not a YouTube video, a file that is not audio.
    {"include-name": ["POST /api/songs/import/", "POST /api/rooms/{code}/requests/", "POST /api/songs/upload/"],
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
]


FORMS = {"multipart/form-data", "application/x-www-form-urlencoded"}


def config(auth: dict[str, str]) -> SchemathesisConfig:
    """The checks' configuration, with a persona's credentials for the schema's security schemes."""
    schemes = {"openapi": {scheme: {"api_key": key} for scheme, key in auth.items()}} if auth else {}
    return SchemathesisConfig.from_dict({"auth": {**schemes, "auto-signup": False}, "operations": EXCEPTIONS})


def error_shape(ctx, response, case):
    """Every error of the API is JSON `{"message": <text>, "extra": <object>}`."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} is not JSON ({response.headers.get('Content-Type')}): {response.content[:200]!r}"
        ) from None
    if not (isinstance(body, dict) and set(body) == {"message", "extra"}
            and isinstance(body["message"], str) and isinstance(body["extra"], dict)):
        raise AssertionError(f"{response.status_code} is not the error shape: {response.content[:200]!r}")
    return None


def fuzz(operation, *, base_url: str, path_parameters: dict, mode: GenerationMode, findings: dict) -> None:
    fixed = {name: value for name, value in path_parameters.items() if f"{{{name}}}" in operation.path}
    body = operation.definition.raw.get("requestBody", {}).get("content", {})
    json_too = "application/json" in body

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        if mode is GenerationMode.NEGATIVE and case.media_type in FORMS and json_too:
            # Invalid data is sent as JSON: a form cannot spell null, a body that is not an
            # object, or an empty field apart from one not given (DRF reads an empty field
            # as "not given", as browsers send them), so schemathesis' invalid forms are
            # often valid ones. (Valid forms are sent; a form-only upload gets both.)
            return
        try:
            case.call_and_validate(base_url=base_url, timeout=30, additional_checks=[error_shape])
        except FailureGroup as group:
            for failure in group.exceptions:
                record(findings, operation, mode, failure, str(group))
        except Failure as failure:
            record(findings, operation, mode, failure, str(failure))
        except requests.RequestException as exc:  # no answer (in 30 s): a finding too
            findings.setdefault(("No answer", operation.label, mode.value), f"{exc!r}\n{case.as_curl_command()[:1000]}")

    run()


def record(findings: dict, operation, mode: GenerationMode, failure: Failure, report: str) -> None:
    key = (type(failure).kind_title, operation.label, mode.value)
    if key not in findings:  # the first example of each kind and operation is enough to read
        findings[key] = report.strip()[:1500]


@pytest.fixture
def party(live_site, staff_user, carol):
    """Carol's room with a guest singer (Dave) and a song waiting; another song (Fernando) for staff."""
    room = RoomFactory(owner=carol, name="Fuzz night")
    dave = SingerFactory(room=room, display_name="Dave")
    QueueEntryFactory(singer=dave, song=SongFactory(title="Waterloo", ready=True))
    SongFactory(title="Fernando", ready=True)
    return room, dave


def personas(staff_user, carol, room, dave) -> dict[str, tuple[dict, dict]]:
    """Persona → (its credentials, by the schema's security scheme; the path parameters
    it is fuzzed with). Staff is fuzzed on a real song (its job ids are made up: 404s)
    and with made-up room codes (the 404s there), the others in Carol's room, where their
    roles mean something. Anonymous has no credentials: schemathesis makes some up,
    which must be refused."""
    in_room = {"code": room.code}
    return {
        "anonymous": ({}, in_room),
        "singer": ({"singerToken": dave.token}, in_room),
        "host": ({"tokenAuth": f"Token {Token.objects.create(user=carol).key}"}, in_room),
        "staff": ({"tokenAuth": f"Token {Token.objects.create(user=staff_user).key}"},
                  {"id": str(Song.objects.get(title="Fernando").pk)}),
    }


def operations(schema) -> list:
    found = [result.ok() for result in schema.get_all_operations()]
    # Deleting and leaving last: the song is there, and the singer a singer, for every other one.
    return sorted(found, key=lambda operation: operation.method.upper() == "DELETE" or operation.path.endswith("/leave/"))


def test_the_api_answers_only_what_its_schema_promises(live_site, party, staff_user, carol):
    room, dave = party
    findings: dict = {}
    for persona, (auth, path_parameters) in personas(staff_user, carol, room, dave).items():
        schema = schemathesis.openapi.from_url(f"{live_site.url}/api/schema/", config=config(auth), timeout=30)
        all_operations = operations(schema)
        assert len(all_operations) >= 30
        persona_findings: dict = {}
        for operation in all_operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz(operation, base_url=live_site.url, path_parameters=path_parameters, mode=mode,
                         findings=persona_findings)
                except Unsatisfiable:
                    continue  # an operation without inputs has nothing to make invalid
        findings[persona] = persona_findings
    if os.environ.get("FUZZ_FINDINGS"):  # for a look at every finding: a JSON file
        with open(os.environ["FUZZ_FINDINGS"], "w") as out:
            json.dump({persona: [[*key, text] for key, text in found.items()] for persona, found in findings.items()},
                      out, indent=1)
    report = []
    for persona, found in findings.items():
        by_kind = defaultdict(list)
        for (kind, label, mode), text in found.items():
            by_kind[kind].append(f"  {label} ({mode}): {text}")
        for kind, lines in sorted(by_kind.items()):
            report.append(f"{persona}: {kind} ({len(lines)})\n" + "\n".join(lines))
    assert report == [], "\n\n".join(report) + f"\n\nsite log:\n{live_site.log()}"
