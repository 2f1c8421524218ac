"""The documented HTTP examples, sent to Redress in document order and held to their answers.

Each page with examples is one story: its examples run one after another on one database,
so a submission, its acknowledgement and the acknowledgement sent again are tested as the
reader reads them. The requests go over HTTP to a live server (pytest-django's
``live_server``, in a thread of this process) and through the whole stack (middleware, token
authentication, parsers, the error handler) on the real PostgreSQL.

The world a story starts from is the demo's (``seed_demo``): its teams, categories, root
causes and accounts, each account's API token bound as ``{<username>_token}`` — so an
example says who makes it by the token it sends. Complaints the examples need but do not
create themselves are made here and bound to the placeholders listed in ``WORLD``. The
clock stands at ``STORY_STARTS`` (and runs on from it), so documented dates stay in the
future of the story.
"""

import contextlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from demo.management.commands import seed_demo
from recovery.services import intake
from tests.docs.examples import (
    DOCUMENTS,
    ELIDED,
    Comparison,
    ExampleError,
    examples_of,
    fill,
    fill_json,
    parse_documented_json,
)
from tests.factories import ComplaintFactory

# A Thursday in May, 09:00 in London: the statutory deadlines of the story fall on ordinary
# business days, and the dates the examples send (`expected_by`) are still ahead.
STORY_STARTS = datetime(2026, 5, 14, 8, 0, tzinfo=UTC)

# The host the documented answers' absolute links name: a local ``./redress run``.
DOCUMENTED_HOST = "127.0.0.1:8000"

# Complaints the examples refer to without creating them: placeholder -> (profile, region).
WORLD = {
    "disp_reference": ("uk_fca_disp", "GB-ENG"),
    "asic_reference": ("au_asic_rg271", "AU-NSW"),
    "psd_reference": ("uk_fca_psd", "GB-ENG"),
}

# Pages with examples; a malformed one fails in the test (and in test_examples.py).
PAGES = [path for path in DOCUMENTS if "```http" in path.read_text()]


class LiveClient:
    """Requests to the live server, answered as the examples compare them."""

    def __init__(self, base_url: str):
        # Named as a local ``./redress run`` is, so the absolute links the answers hold
        # (``next``) read as the docs show them.
        self.http = httpx.Client(base_url=base_url, timeout=30, headers={"Host": DOCUMENTED_HOST})

    def post(self, path: str, data: dict, content_type: str):
        return self.http.post(path, json=data, headers={"Content-Type": content_type})

    def generic(self, method: str, path: str, data: bytes, content_type: str, headers: dict):
        sent = {"Content-Type": content_type, **headers} if data else headers
        return self.http.request(method, path, content=data, headers=sent)


@pytest.fixture
def story(live_server, migration_data, time_machine):
    """The demo world, the placeholders bound to it, and a client that sends no credentials."""
    time_machine.move_to(STORY_STARTS, tick=True)
    staff, customers = seed_demo.Command().accounts_and_reference_data()
    client = LiveClient(live_server.url)
    # A body one field of which fills the default size limit on its own.
    bound: dict[str, object] = {"two_mib_of_text": "x" * (2 * 1024 * 1024)}
    for user in [*staff.values(), *(customer.user for customer in customers)]:
        answer = client.post(
            "/api/auth/token/",
            {"username": user.username, "password": seed_demo.DEMO_PASSWORD},
            content_type="application/json",
        )
        assert answer.status_code == 200, answer.content
        bound[f"{user.username}_token"] = answer.json()["token"]
    for name, (profile, region) in WORLD.items():
        bound[name] = ComplaintFactory(
            by=staff["manager1"],
            subject="Card payment taken twice",
            description="The same payment was taken twice.",
            category="card-payments",
            regulatory_profile=profile,
            jurisdiction=region,
            customer=intake.CustomerDetails(
                name=customers[1].name,
                email=customers[1].email,
                external_id=customers[1].external_id,
            ),
        ).reference
    return client, bound


def send(client: LiveClient, example, bound: dict[str, object]):
    headers = {name: fill(value, bound) for name, value in example.request.headers}
    # Sent as a header too: the test client sets a content type only for a non-empty body.
    content_type = headers.get("Content-Type", "application/octet-stream")
    body = b""
    if example.request.body:
        document = parse_documented_json(example.request.body, where=example.where)
        if ELIDED in json.dumps(document):
            raise ExampleError(f"{example.where}: a request cannot leave anything out (`…`)")
        body = json.dumps(fill_json(document, bound)).encode()
    return client.generic(
        example.method,
        fill(example.target, bound),
        data=body,
        content_type=content_type,
        headers=headers,
    )


def compare(example, answer, bound: dict[str, object]) -> list[str]:
    """What differs between the documented response and the real one (nothing: [])."""
    check = Comparison(bound)
    if answer.status_code != example.status or answer.reason_phrase != example.reason:
        check.problems.append(
            f"status: {answer.status_code} {answer.reason_phrase}, "
            f"documented {example.status} {example.reason}"
        )
    if example.response.body:
        try:
            actual = answer.json()
        except ValueError:
            check.problems.append(f"body: not JSON: {answer.content[:200]!r}")
        else:
            expected = parse_documented_json(example.response.body, where=example.where)
            check.json(expected, actual)
    for name, value in example.response.headers:
        if name not in answer.headers:
            check.problems.append(f"header {name}: missing")
        else:
            check.text(value, answer.headers[name], f"header {name}")
    return check.problems


@pytest.mark.parametrize("page", PAGES, ids=[path.name for path in PAGES])
def test_every_example_answers_as_documented(page, story):
    client, bound = story
    failures = []
    for example in examples_of(page):
        answer = send(client, example, bound)
        problems = compare(example, answer, bound)
        if problems:
            shown = answer.content.decode(errors="replace")
            with contextlib.suppress(ValueError):
                shown = json.dumps(answer.json(), indent=2, ensure_ascii=False)
            failures.append(
                f"{example.where}: {example.request.start}\n  "
                + "\n  ".join(problems)
                + f"\n  the answer: {answer.status_code} {shown}"
            )
    assert not failures, "\n\n".join(failures)


def test_the_examples_cover_the_api_page():
    # The page the examples are for: a parser that found none would pass vacuously.
    assert any(path.name == "api.md" for path in PAGES)
