"""Malformed requests against every endpoint: each gets a precise 4xx and a clear message.

The table is the specification: one row per way a client can get a request wrong, with
the status it must get and words the message must contain. None may answer 500, and
every answer has the error shape ``{"error", "message", "details"}``.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.views import QueuePagination
from recovery.models import Complaint, Message, State
from tests.conftest import acknowledge

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
JSON = "application/json"

INTAKE = "/api/complaints/"
LIST = "/api/complaints/"
DETAIL = "/api/complaints/{received}/"
TRANSITIONS = "/api/complaints/{received}/transitions/"
ACKNOWLEDGED_TRANSITIONS = "/api/complaints/{acknowledged}/transitions/"
MESSAGES = "/api/complaints/{received}/messages/"
ROOT_CAUSES = "/api/root-causes/"
TOKEN = "/api/auth/token/"

GOOD_INTAKE = {
    "subject": "Charged twice",
    "description": "Two charges for one order.",
    "customer": {"name": "Pat", "email": "pat@example.com"},
}
GOOD_MESSAGE = {"body": "Any news?"}
GOOD_RESOLVE = {
    "transition": "resolve",
    "outcome": "upheld",
    "summary": "Refunded.",
    "root_causes": ["billing.duplicate-charge"],
}
GOOD_WITHDRAW = {"transition": "withdraw", "reason": "Sorted."}


@dataclass(frozen=True)
class Case:
    """One malformed request and the answer it must get."""

    id: str
    method: str
    url: str
    status: int
    # The message must contain each of these (case-insensitive).
    says: tuple[str, ...] = ()
    # bytes are sent as they are; anything else is encoded as JSON.
    body: object = None
    content_type: str = JSON
    headers: dict = field(default_factory=dict)
    # The field the error details must name, when there is one.
    names: str | None = None
    # "agent" (staff on the complaint's team), "customer" (its owner), or None (anonymous).
    actor: str | None = "agent"


def with_field(base: dict, **changes) -> dict:
    return {**base, **changes}


def without(base: dict, name: str) -> dict:
    return {k: v for k, v in base.items() if k != name}


def deeply_nested(depth: int) -> bytes:
    return b'{"subject": ' + b"[" * depth + b"]" * depth + b"}"


# -- bodies that are not a JSON object, sent to every endpoint that takes a body ---------------

BODY_ENDPOINTS = {
    "intake": (INTAKE, "agent"),
    "transitions": (TRANSITIONS, "agent"),
    "messages": (MESSAGES, "agent"),
    "token": (TOKEN, None),
}

NOT_AN_OBJECT = [
    ("not-json", b"subject=Charged+twice", JSON, 400, ("JSON parse error",)),
    ("truncated-json", b'{"subject": "Charged', JSON, 400, ("JSON parse error",)),
    ("json-array", b'[{"subject": "Charged twice"}]', JSON, 400, ()),
    ("json-string", b'"Charged twice"', JSON, 400, ()),
    ("json-number", b"42", JSON, 400, ()),
    ("json-null", b"null", JSON, 400, ()),
    ("json-true", b"true", JSON, 400, ()),
    ("nan-literal", b'{"subject": NaN}', JSON, 400, ("JSON parse error",)),
    ("invalid-utf8", b'{"subject": "caf\xe9 \xff\xfe"}', JSON, 400, ("JSON parse error",)),
    ("huge-integer", b'{"subject": 1' + b"0" * 5000 + b"}", JSON, 400, ("JSON parse error",)),
    ("deeply-nested", deeply_nested(100_000), JSON, 400, ("nested",)),
    ("lone-surrogate-key", b'{"\\ud800": "x"}', JSON, 400, ("surrogate",)),
    ("text-plain", b'{"subject": "x"}', "text/plain", 415, ("text/plain",)),
    ("form-encoded", b"subject=x", "application/x-www-form-urlencoded", 415, ("Unsupported",)),
    ("multipart", b"--x--", "multipart/form-data; boundary=x", 415, ("Unsupported",)),
    (
        "above-2-mib",
        b'{"description": "' + b"x" * (2 * MIB) + b'"}',
        JSON,
        413,
        ("limit is 2,097,152 bytes",),
    ),
    # Past Django's own cap on a body read whole (2.5 MiB): the same JSON 413, not its HTML
    # "Bad Request (400)" page.
    (
        "above-django-cap",
        b'{"description": "' + b"x" * (3 * MIB) + b'"}',
        JSON,
        413,
        ("over the limit of 2,097,152 bytes",),
    ),
]

BODY_CASES = [
    Case(
        id=f"{endpoint}-{name}",
        method="POST",
        url=url,
        body=body,
        content_type=content_type,
        status=status,
        says=says,
        actor=actor,
    )
    for endpoint, (url, actor) in BODY_ENDPOINTS.items()
    for name, body, content_type, status, says in NOT_AN_OBJECT
]


# -- intake, field by field -------------------------------------------------------------------

INTAKE_CASES = [
    Case("intake-empty-object", "POST", INTAKE, 400, ("required",), {}, names="subject"),
    Case(
        "intake-missing-subject",
        "POST",
        INTAKE,
        400,
        ("subject: This field is required.",),
        without(GOOD_INTAKE, "subject"),
        names="subject",
    ),
    Case(
        "intake-missing-description",
        "POST",
        INTAKE,
        400,
        ("description",),
        without(GOOD_INTAKE, "description"),
        names="description",
    ),
    Case(
        "intake-unknown-field",
        "POST",
        INTAKE,
        400,
        ("subjet: Unknown field.",),
        with_field(GOOD_INTAKE, subjet="typo"),
        names="subjet",
    ),
    Case(
        "intake-int-subject",
        "POST",
        INTAKE,
        400,
        ("subject", "string"),
        with_field(GOOD_INTAKE, subject=42),
        names="subject",
    ),
    Case(
        "intake-float-subject",
        "POST",
        INTAKE,
        400,
        ("subject", "string"),
        with_field(GOOD_INTAKE, subject=4.2),
        names="subject",
    ),
    Case(
        "intake-bool-subject",
        "POST",
        INTAKE,
        400,
        ("subject",),
        with_field(GOOD_INTAKE, subject=True),
        names="subject",
    ),
    Case(
        "intake-null-subject",
        "POST",
        INTAKE,
        400,
        ("subject", "null"),
        with_field(GOOD_INTAKE, subject=None),
        names="subject",
    ),
    Case(
        "intake-blank-subject",
        "POST",
        INTAKE,
        400,
        ("subject", "blank"),
        with_field(GOOD_INTAKE, subject="   "),
        names="subject",
    ),
    Case(
        "intake-list-description",
        "POST",
        INTAKE,
        400,
        ("description",),
        with_field(GOOD_INTAKE, description=["Two", "charges"]),
        names="description",
    ),
    Case(
        "intake-dict-description",
        "POST",
        INTAKE,
        400,
        ("description",),
        with_field(GOOD_INTAKE, description={"text": "Two charges"}),
        names="description",
    ),
    Case(
        "intake-overlong-subject",
        "POST",
        INTAKE,
        400,
        ("subject", "200 characters"),
        with_field(GOOD_INTAKE, subject="s" * 201),
        names="subject",
    ),
    # A 1 MB description fits under the 2 MiB body cap, so the field limit answers: 400
    # naming the field and its limit, which tells the client exactly what to shorten.
    Case(
        "intake-1mb-description",
        "POST",
        INTAKE,
        400,
        ("description", "50000 characters"),
        with_field(GOOD_INTAKE, description="d" * 1_000_000),
        names="description",
    ),
    Case(
        "intake-nul-in-subject",
        "POST",
        INTAKE,
        400,
        # One-line fields name the control character and where it is.
        ("subject", "control character (U+0000) at character 8"),
        with_field(GOOD_INTAKE, subject="Charged\x00twice"),
        names="subject",
    ),
    Case(
        "intake-lone-surrogate-in-description",
        "POST",
        INTAKE,
        400,
        ("surrogate",),
        with_field(GOOD_INTAKE, description="Broken \ud800 text"),
    ),
    Case(
        "intake-unknown-channel",
        "POST",
        INTAKE,
        400,
        ("channel", "not a valid choice"),
        with_field(GOOD_INTAKE, channel="pigeon"),
        names="channel",
    ),
    Case(
        "intake-unknown-severity",
        "POST",
        INTAKE,
        400,
        ("severity",),
        with_field(GOOD_INTAKE, severity="apocalyptic"),
        names="severity",
    ),
    Case(
        "intake-invalid-date",
        "POST",
        INTAKE,
        400,
        ("occurred_on", "date"),
        with_field(GOOD_INTAKE, occurred_on="2026-02-30"),
        names="occurred_on",
    ),
    Case(
        "intake-words-for-date",
        "POST",
        INTAKE,
        400,
        ("occurred_on",),
        with_field(GOOD_INTAKE, occurred_on="last tuesday"),
        names="occurred_on",
    ),
    Case(
        "intake-int-date",
        "POST",
        INTAKE,
        400,
        ("occurred_on",),
        with_field(GOOD_INTAKE, occurred_on=20260101),
        names="occurred_on",
    ),
    Case(
        "intake-unknown-category",
        "POST",
        INTAKE,
        400,
        ("Unknown category 'no-such-category'",),
        with_field(GOOD_INTAKE, category="no-such-category"),
        names="category",
    ),
    Case(
        "intake-category-not-a-slug",
        "POST",
        INTAKE,
        400,
        ("category",),
        with_field(GOOD_INTAKE, category="Not a slug!"),
        names="category",
    ),
    Case(
        "intake-unknown-team",
        "POST",
        INTAKE,
        400,
        ("Unknown team 'no-such-team'",),
        with_field(GOOD_INTAKE, team="no-such-team"),
        names="team",
    ),
    Case(
        "intake-unknown-touchpoint",
        "POST",
        INTAKE,
        400,
        ("touchpoint",),
        with_field(GOOD_INTAKE, touchpoint="no-such-touchpoint"),
        names="touchpoint",
    ),
    Case(
        "intake-customer-as-string",
        "POST",
        INTAKE,
        400,
        ("customer",),
        with_field(GOOD_INTAKE, customer="Pat"),
        names="customer",
    ),
    Case(
        "intake-customer-as-list",
        "POST",
        INTAKE,
        400,
        ("customer",),
        with_field(GOOD_INTAKE, customer=[{"name": "Pat"}]),
        names="customer",
    ),
    Case(
        "intake-customer-invalid-email",
        "POST",
        INTAKE,
        400,
        ("customer.email", "email"),
        with_field(GOOD_INTAKE, customer={"name": "Pat", "email": "not-an-email"}),
        names="customer",
    ),
    Case(
        "intake-customer-unreachable",
        "POST",
        INTAKE,
        400,
        ("email, phone or external_id",),
        with_field(GOOD_INTAKE, customer={"name": "Pat"}),
        names="customer",
    ),
    Case(
        "intake-customer-unknown-field",
        "POST",
        INTAKE,
        400,
        ("customer.nickname: Unknown field.",),
        with_field(GOOD_INTAKE, customer={"name": "Pat", "phone": "1", "nickname": "P"}),
        names="customer",
    ),
    Case(
        "intake-customer-int-name",
        "POST",
        INTAKE,
        400,
        ("customer.name",),
        with_field(GOOD_INTAKE, customer={"name": 7, "phone": "1"}),
        names="customer",
    ),
    Case(
        "intake-customer-unknown-language",
        "POST",
        INTAKE,
        400,
        ("preferred_language",),
        with_field(GOOD_INTAKE, customer={"name": "Pat", "phone": "1", "preferred_language": "xx"}),
        names="customer",
    ),
    Case(
        "intake-idempotency-key-too-long",
        "POST",
        INTAKE,
        400,
        ("at most 255",),
        GOOD_INTAKE,
        headers={"HTTP_IDEMPOTENCY_KEY": "k" * 300},
        names="Idempotency-Key",
    ),
    Case(
        "intake-idempotency-key-with-control-characters",
        "POST",
        INTAKE,
        400,
        ("Idempotency-Key",),
        GOOD_INTAKE,
        headers={"HTTP_IDEMPOTENCY_KEY": "key\x00with\x07controls"},
        names="Idempotency-Key",
    ),
    Case(
        "intake-customer-may-not-route",
        "POST",
        INTAKE,
        403,
        ("Only staff may route",),
        {"subject": "x", "description": "y", "team": "billing"},
        actor="customer",
    ),
]


# -- transitions ----------------------------------------------------------------------------------

TRANSITION_CASES = [
    Case(
        "transition-missing",
        "POST",
        TRANSITIONS,
        400,
        ("Say which transition",),
        {"reason": "x"},
        names="transition",
    ),
    Case(
        "transition-unknown",
        "POST",
        TRANSITIONS,
        400,
        ("Unknown transition 'escalate'", "choose one of: acknowledge, resolve, close_loop"),
        {"transition": "escalate"},
        names="transition",
    ),
    Case(
        "transition-empty-string",
        "POST",
        TRANSITIONS,
        400,
        ("Unknown transition",),
        {"transition": ""},
        names="transition",
    ),
    Case(
        "transition-as-list",
        "POST",
        TRANSITIONS,
        400,
        ("transition",),
        {"transition": ["acknowledge"]},
        names="transition",
    ),
    Case(
        "transition-as-dict",
        "POST",
        TRANSITIONS,
        400,
        ("transition",),
        {"transition": {"name": "acknowledge"}},
        names="transition",
    ),
    Case(
        "transition-as-int",
        "POST",
        TRANSITIONS,
        400,
        ("transition",),
        {"transition": 1},
        names="transition",
    ),
    Case(
        "transition-null",
        "POST",
        TRANSITIONS,
        400,
        ("transition",),
        {"transition": None},
        names="transition",
    ),
    Case(
        "transition-wrong-case",
        "POST",
        TRANSITIONS,
        400,
        ("Unknown transition 'Acknowledge'",),
        {"transition": "Acknowledge"},
        names="transition",
    ),
    Case(
        "acknowledge-missing-fields",
        "POST",
        TRANSITIONS,
        400,
        ("message: This field is required.", "next_steps: This field is required."),
        {"transition": "acknowledge"},
        names="message",
    ),
    Case(
        "acknowledge-int-message",
        "POST",
        TRANSITIONS,
        400,
        ("message", "string"),
        {"transition": "acknowledge", "message": 123, "next_steps": "Soon."},
        names="message",
    ),
    Case(
        "acknowledge-list-message",
        "POST",
        TRANSITIONS,
        400,
        ("message",),
        {"transition": "acknowledge", "message": ["a"], "next_steps": "Soon."},
        names="message",
    ),
    Case(
        "acknowledge-unknown-field",
        "POST",
        TRANSITIONS,
        400,
        ("cc: Unknown field.",),
        {"transition": "acknowledge", "message": "m", "next_steps": "n", "cc": "boss"},
        names="cc",
    ),
    Case(
        "acknowledge-overlong-message",
        "POST",
        TRANSITIONS,
        400,
        ("message", "20000 characters"),
        {"transition": "acknowledge", "message": "m" * 20_001, "next_steps": "n"},
        names="message",
    ),
    Case(
        "acknowledge-unknown-expected-state",
        "POST",
        TRANSITIONS,
        400,
        ("expected_state", "not a valid choice"),
        {"transition": "acknowledge", "message": "m", "next_steps": "n", "expected_state": "x"},
        names="expected_state",
    ),
    Case(
        "acknowledge-list-expected-state",
        "POST",
        TRANSITIONS,
        400,
        ("expected_state",),
        {
            "transition": "acknowledge",
            "message": "m",
            "next_steps": "n",
            "expected_state": ["received"],
        },
        names="expected_state",
    ),
    Case(
        "resolve-root-causes-as-string",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("root_causes", "list"),
        with_field(GOOD_RESOLVE, root_causes="billing.duplicate-charge"),
        names="root_causes",
    ),
    Case(
        "resolve-root-causes-empty",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("root_causes",),
        with_field(GOOD_RESOLVE, root_causes=[]),
        names="root_causes",
    ),
    Case(
        "resolve-root-causes-of-dicts",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("root_causes",),
        with_field(GOOD_RESOLVE, root_causes=[{"code": "billing"}]),
        names="root_causes",
    ),
    Case(
        "resolve-root-cause-not-a-code",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("root_causes", "lower-case words joined by dots"),
        with_field(GOOD_RESOLVE, root_causes=["Billing Problems!"]),
        names="root_causes",
    ),
    Case(
        "resolve-unknown-root-cause",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("Unknown root cause codes: billing.no-such-cause",),
        with_field(GOOD_RESOLVE, root_causes=["billing.no-such-cause"]),
        names="root_causes",
    ),
    Case(
        "resolve-too-many-root-causes",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("root_causes", "20"),
        with_field(GOOD_RESOLVE, root_causes=[f"billing.c{i}" for i in range(21)]),
        names="root_causes",
    ),
    Case(
        "resolve-unknown-outcome",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("outcome", "not a valid choice"),
        with_field(GOOD_RESOLVE, outcome="maybe"),
        names="outcome",
    ),
    Case(
        "resolve-list-primary",
        "POST",
        ACKNOWLEDGED_TRANSITIONS,
        400,
        ("primary_root_cause",),
        with_field(GOOD_RESOLVE, primary_root_cause=["billing"]),
        names="primary_root_cause",
    ),
    Case(
        "resolve-from-received",
        "POST",
        TRANSITIONS,
        409,
        ("it is received", "Allowed from received: acknowledge, withdraw"),
        GOOD_RESOLVE,
    ),
    Case(
        "withdraw-nul-in-reason",
        "POST",
        TRANSITIONS,
        400,
        ("reason", "null characters"),
        with_field(GOOD_WITHDRAW, reason="bye\x00"),
        names="reason",
    ),
    Case(
        "withdraw-lone-surrogate-in-reason",
        "POST",
        TRANSITIONS,
        400,
        ("surrogate",),
        with_field(GOOD_WITHDRAW, reason="bye \udfff"),
    ),
    Case(
        "withdraw-overlong-duplicate-of",
        "POST",
        TRANSITIONS,
        400,
        ("duplicate_of", "32 characters"),
        with_field(GOOD_WITHDRAW, duplicate_of="RDR-" + "9" * 40),
        names="duplicate_of",
    ),
    Case(
        "withdraw-unknown-duplicate-of",
        "POST",
        TRANSITIONS,
        400,
        ("another existing complaint",),
        with_field(GOOD_WITHDRAW, duplicate_of="RDR-1999-000001"),
        names="duplicate_of",
    ),
    Case(
        "withdraw-duplicate-of-itself",
        "POST",
        TRANSITIONS,
        400,
        ("another existing complaint",),
        with_field(GOOD_WITHDRAW, duplicate_of="{received}"),
        names="duplicate_of",
    ),
    Case(
        "withdraw-customer-marks-duplicate",
        "POST",
        TRANSITIONS,
        403,
        ("Only staff may mark a complaint as a duplicate",),
        with_field(GOOD_WITHDRAW, duplicate_of="{acknowledged}"),
        actor="customer",
    ),
    Case(
        "customer-acknowledges",
        "POST",
        TRANSITIONS,
        403,
        ("You may not acknowledge",),
        {"transition": "acknowledge", "message": "m", "next_steps": "n"},
        actor="customer",
    ),
    Case(
        "transition-unknown-reference",
        "POST",
        "/api/complaints/RDR-1999-000001/transitions/",
        404,
        ("RDR-1999-000001",),
        GOOD_WITHDRAW,
    ),
]


# -- messages -------------------------------------------------------------------------------------

MESSAGE_CASES = [
    Case("message-missing-body", "POST", MESSAGES, 400, ("body",), {}, names="body"),
    Case(
        "message-int-body",
        "POST",
        MESSAGES,
        400,
        ("body", "string"),
        {"body": 5},
        names="body",
    ),
    Case("message-list-body", "POST", MESSAGES, 400, ("body",), {"body": ["a"]}, names="body"),
    Case("message-blank-body", "POST", MESSAGES, 400, ("body",), {"body": "  "}, names="body"),
    Case(
        "message-overlong-body",
        "POST",
        MESSAGES,
        400,
        ("body", "20000 characters"),
        {"body": "b" * 20_001},
        names="body",
    ),
    Case(
        "message-internal-not-boolean",
        "POST",
        MESSAGES,
        400,
        ("internal", "boolean"),
        {"body": "hi", "internal": "perhaps"},
        names="internal",
    ),
    Case(
        "message-internal-as-list",
        "POST",
        MESSAGES,
        400,
        ("internal",),
        {"body": "hi", "internal": [True]},
        names="internal",
    ),
    Case(
        "message-unknown-field",
        "POST",
        MESSAGES,
        400,
        ("subject: Unknown field.",),
        {"body": "hi", "subject": "x"},
        names="subject",
    ),
    Case(
        "message-customer-internal-note",
        "POST",
        MESSAGES,
        403,
        ("internal notes",),
        {"body": "hi", "internal": True},
        actor="customer",
    ),
    Case(
        "message-unknown-reference",
        "POST",
        "/api/complaints/RDR-1999-000001/messages/",
        404,
        ("RDR-1999-000001",),
        GOOD_MESSAGE,
    ),
]


# -- token ------------------------------------------------------------------------------------------

TOKEN_CASES = [
    Case(
        "token-missing-password",
        "POST",
        TOKEN,
        400,
        ("password: This field is required.",),
        {"username": "agent"},
        names="password",
        actor=None,
    ),
    Case(
        "token-list-username",
        "POST",
        TOKEN,
        400,
        ("username",),
        {"username": ["agent"], "password": "pw"},
        names="username",
        actor=None,
    ),
    Case(
        "token-int-password",
        "POST",
        TOKEN,
        400,
        ("password", "string"),
        {"username": "agent", "password": 1234},
        names="password",
        actor=None,
    ),
    Case(
        "token-nul-username",
        "POST",
        TOKEN,
        400,
        ("username", "null characters"),
        {"username": "agent\x00", "password": "pw"},
        names="username",
        actor=None,
    ),
    Case(
        "token-unknown-field",
        "POST",
        TOKEN,
        400,
        # (otp is the second factor's code: a field of this endpoint.)
        ("remember_me: Unknown field.",),
        {"username": "agent", "password": "pw", "remember_me": True},
        names="remember_me",
        actor=None,
    ),
    Case(
        "token-wrong-password",
        "POST",
        TOKEN,
        400,
        ("Unable to log in",),
        {"username": "agent", "password": "wrong"},
        actor=None,
    ),
]


# -- references in the URL ----------------------------------------------------------------------------

REFERENCE_CASES = [
    Case("detail-unknown-reference", "GET", "/api/complaints/RDR-1999-000001/", 404, ("RDR",)),
    Case("detail-non-ascii-reference", "GET", "/api/complaints/RDR-2026-ÄÖÜ/", 404, ("ÄÖÜ",)),
    Case("detail-emoji-reference", "GET", "/api/complaints/%F0%9F%92%A5/", 404, ("No complaint",)),
    # A NUL is refused for the whole URL before any view (config/nul_in_path.py).
    Case("detail-nul-in-reference", "GET", "/api/complaints/RDR%00/", 400, ("NUL character",)),
    Case("detail-overlong-reference", "GET", f"/api/complaints/{'R' * 5000}/", 404, ("No",)),
    Case(
        "detail-invalid-utf8-reference",
        "GET",
        "/api/complaints/RDR-%FF%FE/",
        404,
        ("No complaint",),
    ),
    Case(
        "messages-nul-in-reference",
        "POST",
        "/api/complaints/%00/messages/",
        400,
        ("NUL character",),
        GOOD_MESSAGE,
    ),
]


# -- query strings of the queue and the taxonomy ---------------------------------------------------------

QUERY_CASES = [
    # A page that does not exist is DRF's 404 "Invalid page.", whatever made it not exist.
    Case("list-page-zero", "GET", f"{LIST}?page=0", 404, ("Invalid page",)),
    Case("list-page-words", "GET", f"{LIST}?page=abc", 404, ("Invalid page",)),
    Case("list-page-negative", "GET", f"{LIST}?page=-1", 404, ("Invalid page",)),
    Case("list-page-past-the-end", "GET", f"{LIST}?page=9999", 404, ("Invalid page",)),
    Case("list-unknown-state", "GET", f"{LIST}?state=pending", 400, ("state",), names="state"),
    Case("list-state-nul", "GET", f"{LIST}?state=%00", 400, ("state",), names="state"),
    Case("list-team-nul", "GET", f"{LIST}?team=bill%00ing", 400, ("team",), names="team"),
    Case("list-assignee-nul", "GET", f"{LIST}?assignee=%00", 400, ("assignee",), names="assignee"),
    Case(
        "list-customer-words", "GET", f"{LIST}?customer=abc", 400, ("customer",), names="customer"
    ),
    Case("list-customer-nan", "GET", f"{LIST}?customer=NaN", 400, ("customer",), names="customer"),
    Case(
        "list-invalid-date",
        "GET",
        f"{LIST}?received_after=2026-02-30T00:00:00Z",
        400,
        ("received_after",),
        names="received_after",
    ),
    Case(
        "list-words-for-date",
        "GET",
        f"{LIST}?received_before=yesterday",
        400,
        ("received_before",),
        names="received_before",
    ),
    Case(
        "root-causes-for-customers",
        "GET",
        ROOT_CAUSES,
        403,
        ("taxonomy",),
        actor="customer",
    ),
]


# -- methods no endpoint allows ----------------------------------------------------------------------------

METHOD_CASES = [
    Case(f"{method.lower()}-{name}", method, url, 405, (f'Method "{method}" not allowed',), {})
    for name, url, methods in [
        ("list", LIST, ("PUT", "PATCH", "DELETE")),
        ("detail", DETAIL, ("PUT", "PATCH", "DELETE", "POST")),
        ("transitions", TRANSITIONS, ("GET", "PUT", "DELETE")),
        ("messages", MESSAGES, ("GET", "PUT", "DELETE")),
        ("root-causes", ROOT_CAUSES, ("POST", "PUT", "DELETE")),
    ]
    for method in methods
] + [
    Case(f"{method.lower()}-token", method, TOKEN, 405, (f'Method "{method}"',), actor=None)
    for method in ("GET", "PUT", "DELETE")
]


CASES = (
    BODY_CASES
    + INTAKE_CASES
    + TRANSITION_CASES
    + MESSAGE_CASES
    + TOKEN_CASES
    + REFERENCE_CASES
    + QUERY_CASES
    + METHOD_CASES
)


@pytest.fixture
def complaints(make_complaint, agent, root_causes):
    received = make_complaint()
    acknowledged = make_complaint(subject="Second")
    acknowledge(acknowledged, agent)
    return {"received": received.reference, "acknowledged": acknowledged.reference}


def encode(body) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


def fill(value, references: dict):
    """Put the fixture's references into URLs and bodies that name ``{received}`` etc."""
    if isinstance(value, str):
        return value.replace("{received}", references["received"]).replace(
            "{acknowledged}", references["acknowledged"]
        )
    if isinstance(value, dict):
        return {k: fill(v, references) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_malformed_request_gets_a_precise_4xx(case, complaints, request):
    client = APIClient()
    if case.actor == "agent":
        client.force_authenticate(request.getfixturevalue("agent"))
    elif case.actor == "customer":
        client.force_authenticate(request.getfixturevalue("customer_user"))
    complaints_before = Complaint.objects.count()
    messages_before = Message.objects.count()

    kwargs = dict(case.headers)
    if case.body is not None:
        kwargs.update(data=encode(fill(case.body, complaints)), content_type=case.content_type)
    answer = client.generic(case.method, fill(case.url, complaints), **kwargs)

    assert answer.status_code == case.status, answer.content[:500]
    body = answer.json()
    assert set(body) == {"error", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"].strip()
    for words in case.says:
        assert words.lower() in body["message"].lower(), body["message"]
    if case.names is not None:
        assert case.names in body["details"], body["details"]
    # A refused request changes nothing.
    assert Complaint.objects.count() == complaints_before
    assert Message.objects.count() == messages_before
    assert Complaint.objects.get(reference=complaints["received"]).state == State.RECEIVED


# -- things that look odd but are not errors -------------------------------------------------------------


def test_lowercase_reference_finds_the_complaint(complaints, agent):
    """References are quoted by people: matching ignores case, the answer uses the canonical form."""
    client = APIClient()
    client.force_authenticate(agent)

    answer = client.get(f"/api/complaints/{complaints['received'].lower()}/")

    assert answer.status_code == 200
    assert answer.json()["reference"] == complaints["received"]


def test_huge_page_size_is_capped(make_complaint, agent, monkeypatch):
    # A cap of 2 shows the capping with three rows instead of the real cap's 201.
    monkeypatch.setattr(QueuePagination, "max_page_size", 2)
    for number in range(3):
        make_complaint(subject=f"Complaint {number}")
    client = APIClient()
    client.force_authenticate(agent)

    answer = client.get(LIST, {"page_size": 10**30})

    assert answer.status_code == 200
    assert answer.json()["count"] == 3
    assert len(answer.json()["results"]) == 2
    assert answer.json()["next"] is not None


def test_real_page_size_cap_keeps_responses_bounded():
    assert QueuePagination.max_page_size == 200


@pytest.mark.parametrize("page_size", ["abc", "0", "-5", "null", ""])
def test_nonsense_page_size_is_refused_by_name(make_complaint, agent, page_size):
    # A full default page would look like the size asked for; the schema says a whole
    # number from 1.
    make_complaint()
    client = APIClient()
    client.force_authenticate(agent)

    answer = client.get(LIST, {"page_size": page_size})

    assert answer.status_code == 400, page_size
    assert answer.json()["error"] == "validation_failed"
    assert "page_size" in answer.json()["details"]


@pytest.mark.parametrize("flag", ["perhaps", "null", ""])
def test_include_retired_other_than_a_boolean_is_refused(agent, root_causes, flag):
    # The schema says boolean; "perhaps" quietly meaning "no" would hide the client's bug.
    client = APIClient()
    client.force_authenticate(agent)

    answer = client.get(ROOT_CAUSES, {"include_retired": flag})

    assert answer.status_code == 400
    assert "include_retired" in answer.json()["details"]


@pytest.mark.parametrize(
    ("flag", "retired_shown"), [("false", False), ("0", False), ("true", True)]
)
def test_include_retired_takes_the_booleans_of_a_query_string(
    agent, root_causes, flag, retired_shown
):
    retired = root_causes["billing.refund-delay"]
    retired.retired_at = timezone.now()
    retired.save(update_fields=["retired_at"])
    client = APIClient()
    client.force_authenticate(agent)

    answer = client.get(ROOT_CAUSES, {"include_retired": flag})

    assert answer.status_code == 200
    assert (retired.code in {cause["code"] for cause in answer.json()}) is retired_shown


def test_unicode_text_that_is_valid_is_kept_exactly(customer_user):
    """Non-ASCII is not malformed: accents, CJK, emoji and astral-plane pairs survive."""
    client = APIClient()
    client.force_authenticate(customer_user)
    text = "Café ☕ 二重請求 \U0001f4b3 — Ünïcödé"

    answer = client.post(INTAKE, {"subject": text, "description": text}, format="json")

    assert answer.status_code == 201, answer.json()
    assert answer.json()["subject"] == text
    assert Complaint.objects.get().description == text


# -- URLs that match no API pattern ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        # The id must be a number: Django's resolver matches nothing.
        "/api/recoveries/null,null/decision/",
        "/api/corrective-actions/abc/effectiveness/",
        "/api/no-such-endpoint/",
    ],
)
def test_an_api_url_that_matches_nothing_is_a_json_404(customer_user, url):
    client = APIClient()
    client.force_authenticate(customer_user)

    answer = client.post(url, {}, format="json")

    assert answer.status_code == 404
    assert answer["Content-Type"] == JSON
    body = answer.json()
    assert body["error"] == "not_found"
    assert "/api/schema/" in body["message"]
    assert body["details"] == {}


def test_a_page_url_that_matches_nothing_is_still_the_site_page(db):
    answer = APIClient().get("/no-such-page/")

    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("text/html")
