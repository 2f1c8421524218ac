"""The OpenAPI schema is the truth: schemathesis checks every operation of /api/schema/
against a live Redress, once as a supervisor and once as a customer.

The server is the production one (``config.asgi`` under uvicorn, with a Celery worker
delivering what the requests set off) on the pytest-django test database, which the test
seeds and commits: complaints of the customer in every state, a recovery action, a
corrective action and a survey. Path parameters are drawn mostly from those seeded ids, so
the generated requests reach real objects, not only 404s.

Every check runs (no 5xx, documented status codes, content types, headers and response
bodies), with few examples per operation, generated deterministically: the same code and
schema give the same requests, so a failure reproduces. Each failure is reported with the
request that caused it.
"""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from recovery.models import Survey
from recovery.services import lifecycle, prevention, remedies, surveys
from tests.conftest import acknowledge, close_loop, resolve
from tests.desk.live import SETTLE_TIMEOUT_S, live_redress
from tests.processes import wait_until_worker_idle

pytestmark = [
    pytest.mark.contract,
    pytest.mark.slow,
    pytest.mark.xdist_group("real-services"),
    pytest.mark.django_db(transaction=True),
]

# Examples per operation and persona in the fuzzing phase. About 40 operations, two
# personas, a 2-core machine: 4 keeps the whole check (server start included) near three
# minutes when the machine is otherwise idle; the boundary ("coverage") cases and the auth
# probes are sent on top of them.
MAX_EXAMPLES = 4
# Share of generated path parameters taken from the seeded objects; the rest are random
# (and must come back as documented 404s).
SEEDED_SHARE = 0.8
# A slow answer on a loaded 2-core machine is not a failure of the schema.
REQUEST_TIMEOUT_S = 30


# The inbound-mail webhook's shared secret on the live server (it answers 503 without one).
INBOUND_SECRET = "contract-inbound-secret"


@pytest.fixture(scope="module")
def live(django_db_setup):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDRESS_INBOUND_SECRET", INBOUND_SECRET)
        with live_redress() as redress:
            yield redress


@pytest.fixture
def seeded(make_complaint, customer_user, supervisor, manager, root_causes):
    """Complaints of ``customer_user`` in each state, handled by ``supervisor``'s team."""
    received = make_complaint(subject="Received")
    acknowledged = make_complaint(subject="Acknowledged")
    acknowledge(acknowledged, supervisor)
    resolved = make_complaint(subject="Resolved")
    acknowledge(resolved, supervisor)
    resolve(resolved, supervisor)
    closed = make_complaint(subject="Loop closed")
    acknowledge(closed, supervisor)
    resolve(closed, supervisor)
    close_loop(closed, supervisor)
    withdrawn = make_complaint(subject="Withdrawn")
    lifecycle.complaint_withdraw(complaint=withdrawn, actor=customer_user, reason="Sorted.")
    offered = remedies.recovery_propose(
        complaint=acknowledged, actor=supervisor, type="refund", amount="25.00", currency="USD"
    )
    capa = prevention.corrective_action_open(
        actor=manager,
        title="Stop gateway retries",
        root_causes=["billing.duplicate-charge"],
        owner=supervisor.username,
        complaints=[resolved.reference],
    )
    survey = Survey.objects.get(complaint=closed)
    return {
        "references": [c.reference for c in (received, acknowledged, resolved, closed, withdrawn)],
        "action_ids": [offered.pk, capa.pk],
        "survey_tokens": [surveys.survey_token(survey)],
        "profile_codes": ["uk_fca_disp", "us_cfpb"],
        "inbound_secrets": [INBOUND_SECRET],
    }


def contract_config(*, base_url: str, token: str, seeded: dict) -> schemathesis.Config:
    def from_seeded(name: str) -> dict:
        return {"dictionary": name, "probability": SEEDED_SHARE}

    return schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            # Given as the schema's own token scheme, so the auth check knows it is a real
            # credential and probes that the API refuses the request without it.
            "auth": {"openapi": {token_scheme(base_url): {"api_key": f"Token {token}"}}},
            "request-timeout": REQUEST_TIMEOUT_S,
            "dictionaries": {name: {"values": values} for name, values in seeded.items()},
            "parameters": {
                "path.reference": from_seeded("references"),
                "path.action_id": from_seeded("action_ids"),
                "path.token": from_seeded("survey_tokens"),
                "path.code": from_seeded("profile_codes"),
                "header.X-Redress-Inbound-Secret": from_seeded("inbound_secrets"),
            },
            "checks": {
                "enabled": True,
                # "A request the schema allows must succeed" cannot hold for rules no schema
                # states: a slug or username that must exist, a password that must be right,
                # one field or the other. The other way round is checked: what the schema
                # forbids must be refused (negative_data_rejection).
                "positive_data_acceptance": {"enabled": False},
            },
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The token is the credential; made-up cookies or tokens beside it would
                # make the auth check judge the wrong one.
                "with-security-parameters": False,
            },
        }
    )


def token_scheme(base_url: str) -> str:
    """The name the schema gives the ``Authorization: Token …`` scheme."""
    schema = httpx.get(
        f"{base_url}/api/schema/?format=json", timeout=REQUEST_TIMEOUT_S, trust_env=False
    ).json()
    schemes = schema["components"]["securitySchemes"]
    return next(
        name
        for name, scheme in schemes.items()
        if scheme.get("in") == "header" and scheme.get("name") == "Authorization"
    )


def token_of(base_url: str, username: str) -> str:
    answer = httpx.post(
        f"{base_url}/api/auth/token/",
        json={"username": username, "password": "pw"},
        timeout=REQUEST_TIMEOUT_S,
        trust_env=False,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def api_schema_as(username: str, live, seeded):
    token = token_of(live.base_url, username)
    config = contract_config(base_url=live.base_url, token=token, seeded=seeded)
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/schema/", config=config)
    yield schema
    # The worker finishes what the requests set off before the teardown empties the tables.
    wait_until_worker_idle(live.worker, live.node_name, SETTLE_TIMEOUT_S)


@pytest.fixture
def staff_schema(live, seeded, supervisor):
    yield from api_schema_as(supervisor.username, live, seeded)


@pytest.fixture
def customer_schema(live, seeded, customer_user):
    yield from api_schema_as(customer_user.username, live, seeded)


staff = schemathesis.pytest.from_fixture("staff_schema")
customer = schemathesis.pytest.from_fixture("customer_schema")
CONTRACT_SETTINGS = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@staff.parametrize()
@CONTRACT_SETTINGS
def test_the_api_answers_a_supervisor_as_its_schema_says(case):
    case.call_and_validate()


@customer.parametrize()
@CONTRACT_SETTINGS
def test_the_api_answers_a_customer_as_its_schema_says(case):
    case.call_and_validate()
