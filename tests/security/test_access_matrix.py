"""The access matrix: every route of Redress, every persona, one expected answer each.

The URL patterns and the websocket routes are enumerated from the URL conf and the Channels
routing at test time; each must have a row in ``HTTP_RULES`` / ``SOCKET_RULES``, so a new
endpoint without an access rule fails here until someone decides who may reach it.

Personas (``PERSONAS``; each a factory, so another way in, such as an API token, is one
more entry that says how its client and socket authenticate):
- ``anonymous``: nobody signed in;
- ``customer_a``: owns the complaint under test; ``customer_b``: another customer;
- ``agent_in``: agent on the complaint's team; ``agent_out``: agent on another team;
- ``supervisor``: supervisor of the complaint's team;
- ``manager`` / ``head_of_cx``: see every complaint;
- ``deactivated``: an agent of the team whose account was switched off after signing in.

Token personas send ``Authorization: Token <key>`` over HTTP and ``?token=<key>`` on
sockets, never a session cookie. A token opens the API only: on the pages (portal, desk,
insights) its bearer is as anonymous as anyone without a session.
- ``agent_token``: a valid token of an agent on the complaint's team; on the API it must
  answer exactly as ``agent_in`` does;
- ``expired_token`` / ``revoked_token``: a manager's token past its expiry, and one deleted
  (signed out); ``deactivated_token``: the token of an agent whose account was switched off
  (by a bulk update that skipped the revocation signal, so the check at use is what stops
  it); ``demo_token``: a demo agent's token on a production deployment (``REDRESS_DEMO``
  off). Each is refused everywhere: 401 on every API route but the sign-in itself, and every
  socket closes unauthenticated.

An answer is ALLOW (the request got past the access check: 2xx, 3xx other than to the
sign-in page, or a 400/409 about its empty body) or DENY (401, 403, 404, or sent to sign
in). A 5xx fails whatever the table says. Besides the status, no answer to a persona who
may not see the complaint may contain its reference (a list or queue that leaks it fails).
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from knox.models import AuthToken

from config.asgi import application
from desk.accounts import portal_account
from notifications import routing
from notifications.ingest import ingest
from notifications.models import EmailDelivery, EmailStatus, Notification, Outbox
from notifications.replay import tracking_token
from recovery import roles
from recovery.models import AttachmentSource, CorrectiveAction, Macro, SavedView
from recovery.services import address_proof, api_tokens, attachments, intake, remedies, surveys
from tests.conftest import _customer_user, _staff, acknowledge
from tests.factories import TeamFactory

ORIGIN = (b"origin", b"http://testserver")
RECEIVE_TIMEOUT_S = 5

# -- personas ---------------------------------------------------------------------------------


@dataclass
class Persona:
    name: str
    user: object | None  # None: anonymous
    # An API token persona: its key, and whose column it follows on the API (None: refused).
    token: str | None = None
    acts_as: str | None = None

    def http(self) -> Client:
        if self.token is not None:
            return Client(headers={"Authorization": f"Token {self.token}"})
        client = Client()
        if self.user is not None:
            client.force_login(self.user)
        return client

    def socket_path(self, path: str) -> str:
        return f"{path}?token={self.token}" if self.token is not None else path

    def socket_headers(self) -> list[tuple[bytes, bytes]]:
        if self.token is not None:
            return [ORIGIN]
        client = self.http()
        cookie = client.cookies.get("sessionid")
        if cookie is None:
            return [ORIGIN]
        return [ORIGIN, (b"cookie", f"sessionid={cookie.value}".encode())]


def _anonymous(world) -> Persona:
    return Persona("anonymous", None)


def _customer_a(world) -> Persona:
    return Persona("customer_a", world.customer_a)


def _customer_b(world) -> Persona:
    return Persona("customer_b", _customer_user("customer_b", world.groups))


def _agent_in(world) -> Persona:
    return Persona("agent_in", world.agent_in)


def _agent_out(world) -> Persona:
    return Persona("agent_out", _staff("agent_out", world.groups[roles.AGENT], world.other_team))


def _supervisor(world) -> Persona:
    return Persona("supervisor", _staff("supervisor", world.groups[roles.SUPERVISOR], world.team))


def _manager(world) -> Persona:
    return Persona("manager", world.manager)


def _head_of_cx(world) -> Persona:
    return Persona("head_of_cx", _staff("head", world.groups[roles.HEAD_OF_CX]))


def _deactivated(world) -> Persona:
    user = _staff("gone", world.groups[roles.AGENT], world.team)
    persona = Persona("deactivated", user)
    # Signed in while active; switched off afterwards: the session must open nothing.
    client = Client()
    client.force_login(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    persona.http = lambda: client
    return persona


def _agent_token(world) -> Persona:
    user = _staff("agent_token", world.groups[roles.AGENT], world.team)
    _row, key = api_tokens.api_token_issue(user=user)
    return Persona("agent_token", user, token=key, acts_as="agent_in")


def _expired_token(world) -> Persona:
    row, key = api_tokens.api_token_issue(user=world.manager)
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    return Persona("expired_token", world.manager, token=key)


def _revoked_token(world) -> Persona:
    row, key = api_tokens.api_token_issue(user=world.manager)
    api_tokens.api_token_revoke(user=world.manager, token_key=row.token_key)
    return Persona("revoked_token", world.manager, token=key)


def _deactivated_token(world) -> Persona:
    user = _staff("gone_token", world.groups[roles.AGENT], world.team)
    _row, key = api_tokens.api_token_issue(user=user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    return Persona("deactivated_token", user, token=key)


def _demo_token(world) -> Persona:
    # Issued while demos were on; the tests run with REDRESS_DEMO off (production).
    user = _staff("demo_token", world.groups[roles.AGENT], world.team)
    user.groups.add(world.groups[roles.DEMO])
    _row, key = api_tokens.api_token_issue(user=user)
    return Persona("demo_token", user, token=key)


# The ways in: a session (force_login) or an API token (knox).
PERSONAS: list[Callable] = [
    _anonymous,
    _customer_a,
    _customer_b,
    _agent_in,
    _agent_out,
    _supervisor,
    _manager,
    _head_of_cx,
    _deactivated,
    _agent_token,
    # Revoked before expired: issuing a token sweeps its owner's expired ones.
    _revoked_token,
    _expired_token,
    _deactivated_token,
    _demo_token,
]

SESSIONS = frozenset(
    {
        "anonymous",
        "customer_a",
        "customer_b",
        "agent_in",
        "agent_out",
        "supervisor",
        "manager",
        "head_of_cx",
        "deactivated",
    }
)
TOKENS = frozenset(
    {"agent_token", "expired_token", "revoked_token", "deactivated_token", "demo_token"}
)
EVERYONE = SESSIONS | TOKENS
# The rules below name session personas; a token persona takes its column from ``acts_as``.
SIGNED_IN = SESSIONS - {"anonymous", "deactivated"}
STAFF = frozenset({"agent_in", "agent_out", "supervisor", "manager", "head_of_cx"})
# Who may see and work the complaint under test (recovery.access).
WORKERS = frozenset({"agent_in", "supervisor", "manager", "head_of_cx"})
VIEWERS = WORKERS | {"customer_a"}
SUPERVISORS_UP = frozenset({"supervisor", "manager", "head_of_cx"})
MANAGERS = frozenset({"manager", "head_of_cx"})
NOBODY = frozenset()

# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    method: str
    allowed: frozenset
    # Bearer links (tracking, survey): whoever holds the link sees the complaint.
    bearer: bool = False
    # Signing out sends everyone to the sign-in page: that is its answer, not a refusal.
    signs_out: bool = False
    # Authenticated by other means (a password, a signed link, the mail provider's secret):
    # a token sent along is not read, stale or not.
    reads_no_token: bool = False


def get(allowed, **kw) -> Rule:
    return Rule("GET", frozenset(allowed), **kw)


def post(allowed, **kw) -> Rule:
    return Rule("POST", frozenset(allowed), **kw)


HTTP_RULES: dict[str, Rule] = {
    # The site's icon, asked for by every browser.
    "favicon.ico": get(EVERYONE, reads_no_token=True),
    # -- the portal: public, or reached by a signed link
    "": get(EVERYONE),
    "complaint/received/<str:token>/": get(EVERYONE, bearer=True),
    "track/<str:token>/": get(EVERYONE, bearer=True),
    "track/<str:token>/reply/": post(EVERYONE, bearer=True),
    "track/<str:token>/escalate/": post(EVERYONE, bearer=True),
    # The complaint's files, to whoever holds its link (another complaint's link: 404).
    "track/<str:token>/files/<int:attachment_id>/": get(EVERYONE, bearer=True),
    "survey/<str:token>/": get(EVERYONE, bearer=True),
    "survey/<str:token>/thanks/": get(EVERYONE, bearer=True),
    # The link in the receipt of a complaint filed under an existing customer's address;
    # opening it shows the complaint it confirms, posting links it (once).
    "confirm/<str:token>/": get(EVERYONE, bearer=True),
    # -- the desk
    "desk/login/": get(EVERYONE),
    # The second sign-in step opens only after a right password in this session (none
    # here): everyone else is sent back to the first step.
    "desk/login/code/": get(NOBODY),
    # Enrolling a second factor is for staff (recovery.second_factor).
    "desk/two-factor/": get(STAFF),
    "desk/logout/": post(EVERYONE, signs_out=True),
    "desk/api-tokens/": get(STAFF),
    "desk/api-tokens/revoke-all/": post(STAFF),
    # Revoking a key the user does not hold: a message on their tokens page, nothing revoked.
    "desk/api-tokens/<str:key>/revoke/": post(STAFF),
    "desk/": get(STAFF),
    "desk/team/": get(STAFF),
    "desk/unassigned/": get(STAFF),
    # Saved views of the queue: anyone on the staff saves their own; a view opens for its
    # owner and the team it is shared with (here the supervisor's, shared with the team),
    # and is deleted by its owner or a supervisor of that team, not by the team's agents;
    # anyone else finds no such view.
    "desk/views/new/": get(STAFF),
    "desk/views/<int:view_id>/": get({"agent_in", "supervisor"}),
    "desk/views/<int:view_id>/delete/": post({"supervisor"}),
    "desk/notifications/": get(STAFF),
    "desk/notifications/preferences/": get(STAFF),
    # A notification opens for its own reader only; anyone else's is as unknown as none.
    "desk/notifications/<int:notification_id>/": get({"agent_in"}),
    # Everyone who works complaints has a review queue; it lists only the mail held on
    # complaints they may work (and quarantined mail for supervisors and up), so another
    # team's agent opens it but never sees the complaint's reference there.
    "desk/held-mail/": get(STAFF),
    "desk/held-mail/<int:inbound_id>/review/": post(WORKERS),
    "desk/board/": get(SUPERVISORS_UP),
    # The result of the user's own last bulk action (kept in their session); posting a
    # selection runs each complaint through its own service, which decides per row.
    "desk/bulk/": get(STAFF),
    # Macros are managed by supervisors and up; agents use them on a complaint's page.
    "desk/macros/": get(SUPERVISORS_UP),
    "desk/macros/new/": get(SUPERVISORS_UP),
    "desk/macros/<int:macro_id>/edit/": get(SUPERVISORS_UP),
    "desk/macros/<int:macro_id>/archive/": post(SUPERVISORS_UP),
    # The board's cards: whoever works the complaint may take it (an agent lands on its page);
    # handing it out, moving its team and escalating it are a supervisor's.
    "desk/board/<str:reference>/take/": post(WORKERS),
    "desk/board/<str:reference>/assign/": post(SUPERVISORS_UP),
    "desk/board/<str:reference>/move/": post(SUPERVISORS_UP),
    "desk/board/<str:reference>/escalate/": post(SUPERVISORS_UP),
    "desk/approvals/": get(SUPERVISORS_UP),
    "desk/approvals/<int:action_id>/decide/": post(SUPERVISORS_UP),
    # Corrective actions: supervisors and up see them; complaints managers open and change
    # them; moving one on is for its owner (here the manager) or a complaints manager.
    "desk/corrective-actions/": get(SUPERVISORS_UP),
    "desk/corrective-actions/new/": get(MANAGERS),
    "desk/corrective-actions/<int:action_id>/edit/": get(MANAGERS),
    "desk/corrective-actions/<int:action_id>/status/": post(MANAGERS),
    "desk/complaints/<str:reference>/": get(WORKERS),
    **{
        f"desk/complaints/<str:reference>/{action}/": post(WORKERS)
        for action in (
            "acknowledge",
            "reply",
            "macro",
            "note",
            "hold",
            "written-response",
            "delay-notification",
            "resolve",
            "close-loop",
            "escalate",
            "held-email",
            "tracking-link",
            "link-customer",
            "merge",
            "recovery",
            "resend-email",
        )
    },
    "desk/complaints/<str:reference>/assign/": post(SUPERVISORS_UP),
    # Reopening is the transition's own permission (rules.may_reopen), asked before the
    # form: the team's agent is refused, not asked for a reason.
    "desk/complaints/<str:reference>/reopen/": post(SUPERVISORS_UP),
    "desk/complaints/<str:reference>/recovery/<int:action_id>/deliver/": post(WORKERS),
    # A file of the complaint: to whoever may open its page.
    "desk/complaints/<str:reference>/files/<int:attachment_id>/": get(WORKERS),
    # Moving a complaint to another category moves its deadlines: those who may correct its
    # details (rules.may_recategorise), asked before the form.
    "desk/complaints/<str:reference>/category/": post(SUPERVISORS_UP),
    # -- insights (aggregates for supervisors and up)
    "api/insights/pareto/": get(SUPERVISORS_UP),
    "api/insights/trends/": get(SUPERVISORS_UP),
    "api/insights/repeats/": get(SUPERVISORS_UP),
    "api/insights/kpis/": get(SUPERVISORS_UP),
    "api/insights/alerts/": get(SUPERVISORS_UP),
    "api/corrective-actions/<int:action_id>/effectiveness/": get(SUPERVISORS_UP),
    "insights/": get(SUPERVISORS_UP),
    "insights/dashboard/": get(SUPERVISORS_UP),
    "insights/trends/": get(SUPERVISORS_UP),
    "insights/repeats/": get(SUPERVISORS_UP),
    "insights/kpis/": get(SUPERVISORS_UP),
    "insights/corrective-actions/<int:action_id>/": get(SUPERVISORS_UP),
    # -- the API
    "api/auth/token/": post(SESSIONS, reads_no_token=True),
    "api/auth/tokens/": get(SIGNED_IN),
    # DELETE only: a GET past the access check is answered 405.
    "api/auth/tokens/<str:key>/": get(SIGNED_IN),
    "api/complaints/": get(SIGNED_IN),
    "api/complaints/<str:reference>/": get(VIEWERS),
    "api/complaints/<str:reference>/transitions/": post(VIEWERS),
    "api/complaints/<str:reference>/messages/": post(VIEWERS),
    "api/complaints/<str:reference>/hold/": post(WORKERS),
    "api/complaints/<str:reference>/assignment/": post(WORKERS),
    "api/complaints/<str:reference>/merge/": post(WORKERS),
    "api/complaints/<str:reference>/category/": post(SUPERVISORS_UP),
    "api/complaints/<str:reference>/holding-reply/": post(WORKERS),
    "api/complaints/<str:reference>/regulation/": post(WORKERS),
    "api/complaints/<str:reference>/written-response/": post(WORKERS),
    "api/complaints/<str:reference>/delay-notification/": post(WORKERS),
    "api/complaints/<str:reference>/provisional-credit/": post(WORKERS),
    "api/complaints/<str:reference>/recoveries/": get(WORKERS),
    "api/complaints/<str:reference>/escalations/": post(WORKERS),
    "api/complaints/<str:reference>/escalation-requests/": post(VIEWERS),
    # The first allowed resend queues the failed email again; the others are 409s (allowed).
    "api/complaints/<str:reference>/emails/<int:email_id>/resend/": post(WORKERS),
    "api/root-causes/": get(STAFF),
    "api/recoveries/awaiting-approval/": get(SUPERVISORS_UP),
    "api/recoveries/<int:action_id>/decision/": post(SUPERVISORS_UP),
    "api/recoveries/<int:action_id>/delivery/": post(WORKERS),
    "api/surveys/<str:token>/": get(SESSIONS, bearer=True, reads_no_token=True),
    "api/corrective-actions/": get(SUPERVISORS_UP),
    "api/corrective-actions/<int:action_id>/status/": post(MANAGERS),
    "api/corrective-actions/<int:action_id>/complaints/": post(MANAGERS),
    # Figures per team and clock, no complaint in them.
    "api/sla/compliance/": get(STAFF),
    "api/regulatory-profiles/": get(SIGNED_IN),
    "api/regulatory-profiles/<str:code>/": get(SIGNED_IN),
    "api/notifications/": get(SIGNED_IN),
    "api/notifications/unread-count/": get(SIGNED_IN),
    "api/notifications/mark-read/": post(SIGNED_IN),
    "api/notifications/preferences/": get(SIGNED_IN),
    # Authenticated by the mail provider's shared secret, never by a person's session.
    "api/inbound-email/": post(NOBODY, reads_no_token=True),
    "api/schema/": get(EVERYONE),
    # Single sign-on answers 404 until a provider is configured (none in these tests).
    "oidc/authenticate/": get(NOBODY),
    "oidc/callback/": get(NOBODY),
    "api/docs/": get(EVERYONE),
    # The catch-all after every endpoint: a JSON 404 for everyone.
    "^api/": get(NOBODY, reads_no_token=True),
}
# The admin checks Django's is_staff flag itself (no persona here has it); its index stands
# for its pages, which the admin site wraps in the same check.
ADMIN_PREFIX = "admin/"
ADMIN_RULE = get(NOBODY)

SOCKET_RULES: dict[str, dict[str, frozenset]] = {
    # connect: who is let in; open: who may join the complaint's group.
    "ws/events/": {"connect": STAFF, "open": WORKERS},
    "ws/track/<str:token>/": {"connect": SESSIONS, "open": SESSIONS},
    # The catch-all route closes any other path.
    "": {"connect": NOBODY, "open": NOBODY},
}


# -- enumeration -------------------------------------------------------------------------------


def url_patterns(resolver=None, prefix: str = "") -> list[str]:
    """Every route of the URL conf as its full pattern string."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += url_patterns(entry, pattern)
        elif isinstance(entry, URLPattern):
            found.append(pattern)
    return found


def socket_patterns(router=None) -> list[str]:
    router = router or URLRouter(routing.websocket_urlpatterns)
    return [str(route.pattern) for route in router.routes]


def fill(pattern: str, world) -> str:
    """The pattern as a path, its parameters taken from the world under test."""
    path = "/" + pattern.lstrip("^").rstrip("$")
    action_id = world.corrective_action.pk if "corrective-actions" in pattern else world.action.pk
    token = world.survey_token if "survey" in pattern else world.tracking_token
    if pattern.startswith("confirm/"):
        token = world.confirmation_token
    for name, value in {
        "<str:reference>": world.complaint.reference,
        "<int:action_id>": action_id,
        "<str:token>": token,
        "<str:code>": "uk_fca_disp",
        "<str:key>": "0123456789abcde",
        "<int:notification_id>": world.notification.pk,
        "<int:inbound_id>": world.held_email.pk,
        "<int:view_id>": world.saved_view.pk,
        "<int:email_id>": world.failed_email.pk,
        "<int:attachment_id>": world.attachment.pk,
        "<int:macro_id>": world.macro.pk,
    }.items():
        path = path.replace(name, str(value))
    return path


# -- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    groups: dict
    team: object
    other_team: object
    customer_a: object
    agent_in: object
    manager: object
    complaint: object = None
    action: object = None
    corrective_action: object = None
    tracking_token: str = ""
    survey_token: str = ""
    # Filed through the public form under customer_a's address by someone else (the filer,
    # who holds only its tracking link): on a provisional record until the address is proven.
    unproven: object = None
    confirmation_token: str = ""
    notification: object = None
    # An email held on the complaint: written into its thread by someone not its customer.
    held_email: object = None
    failed_email: object = None
    attachment: object = None
    macro: object = None
    # A supervisor's saved view of the team queue, shared with the team.
    saved_view: object = None


@pytest.fixture
def world(groups, make_complaint, root_causes):
    team = TeamFactory(name="Billing team", slug="billing-team")
    other_team = TeamFactory(name="Delivery team", slug="delivery-team")
    customer_a = _customer_user("customer_a", groups)
    found = World(
        groups=groups,
        team=team,
        other_team=other_team,
        customer_a=customer_a,
        agent_in=_staff("agent_in", groups[roles.AGENT], team),
        manager=_staff("manager", groups[roles.COMPLAINTS_MANAGER]),
    )
    found.complaint = make_complaint(by=customer_a, routed_to=team, subject="Matrix")
    acknowledge(found.complaint, found.agent_in)
    # Above the agent's limit: waits for a supervisor.
    found.action = remedies.recovery_propose(
        complaint=found.complaint,
        actor=found.agent_in,
        type="refund",
        amount="400.00",
        currency="GBP",
        description="Refund the duplicate charge.",
    )
    found.corrective_action = CorrectiveAction.objects.create(
        title="Stop gateway retries", owner=found.manager
    )
    found.macro = Macro.objects.create(
        name="Matrix macro",
        body="Dear {customer_name}, about {reference}.",
        created_by=found.manager,
    )
    survey = surveys.survey_create(complaint=found.complaint)
    found.survey_token = surveys.survey_token(survey)
    found.tracking_token = tracking_token(found.complaint.pk)
    found.unproven, _ = intake.complaint_submit(
        actor=portal_account(),
        intake=intake.ComplaintIntake(
            subject="Filed under someone else's address",
            description="Please refund me.",
            customer=intake.CustomerDetails(name="The filer", email=customer_a.customer.email),
            team=team.slug,
            address_proven=False,
        ),
    )
    found.confirmation_token = address_proof.confirmation_token(found.unproven)
    found.saved_view = SavedView.objects.create(
        owner=_staff("view_owner", groups[roles.SUPERVISOR], team),
        team=team,
        name="Matrix view",
        scope="team",
    )
    found.notification = Notification.objects.create(
        user=found.agent_in,
        outbox=Outbox.objects.filter(complaint_id=found.complaint.pk).first(),
        event_type="complaint.acknowledged",
        complaint_id=found.complaint.pk,
        reference=found.complaint.reference,
        summary="Acknowledged",
    )
    found.held_email = ingest(
        (
            f"From: Mallory <mallory@example.net>\r\nTo: complaints@redress.invalid\r\n"
            f"Subject: Re: {found.complaint.reference}\r\nMessage-ID: <held@example.net>\r\n"
            "\r\nPay the refund into my account instead.\r\n"
        ).encode(),
        source="matrix",
    )
    assert found.held_email.status == "held"
    # A customer email our mail server refused: the resend routes have one to send again.
    found.failed_email = EmailDelivery.objects.create(
        outbox=Outbox.objects.filter(complaint_id=found.complaint.pk).first(),
        complaint_id=found.complaint.pk,
        recipient="refused@example.org",
        kind="receipt",
        subject=f"[{found.complaint.reference}] Refused",
        body_text="Refused by the mail server.",
        rfc_message_id=f"<matrix-failed-{uuid.uuid4().hex}@redress.invalid>",
        status=EmailStatus.FAILED,
        failure_reason="550 refused",
    )
    [found.attachment] = attachments.attachments_add(
        complaint=found.complaint,
        files=[attachments.upload_check(name="statement.txt", content=b"Two charges of 40.00")],
        source=AttachmentSource.TRACKING,
    )
    return found


@pytest.fixture
def personas(world) -> list[Persona]:
    return [factory(world) for factory in PERSONAS]


# -- the tests ----------------------------------------------------------------------------------


def test_every_route_has_an_access_rule():
    missing = [p for p in url_patterns() if p not in HTTP_RULES and not p.startswith(ADMIN_PREFIX)]
    assert not missing, f"New endpoint without an access rule: {missing}"
    stale = set(HTTP_RULES) - set(url_patterns())
    assert not stale, f"Rules for routes that no longer exist: {stale}"
    assert set(socket_patterns()) == set(SOCKET_RULES), "New socket route without an access rule"


def test_every_persona_has_a_column():
    assert {factory.__name__.lstrip("_") for factory in PERSONAS} == EVERYONE


def _column(persona: Persona, path: str, rule: Rule) -> str | None:
    """Whose column of the table ``persona`` answers to on ``path``; None: a refused token,
    which must get 401."""
    if persona.name in SESSIONS:
        return persona.name
    if not path.startswith("/api/") or rule.reads_no_token:
        return "anonymous"
    return persona.acts_as


def _verdict(response, rule: Rule) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {response.content[:300]!r}"
    if status in (401, 403, 404):
        return "DENY"
    to_sign_in = status in (301, 302) and "/login/" in response.get("Location", "")
    if to_sign_in and not rule.signs_out:
        return "DENY"
    return "ALLOW"


@pytest.fixture
def production(settings):
    settings.REDRESS_DEMO = False


@pytest.mark.django_db
def test_http_matrix(world, production, personas, settings):
    settings.REDRESS_INBOUND_SECRET = "matrix-secret"
    wrong = []
    leaks = []
    routes = [*HTTP_RULES.items(), (ADMIN_PREFIX, ADMIN_RULE)]
    for pattern, rule in routes:
        path = fill(pattern, world)
        for persona in personas:
            client = persona.http()
            if rule.method == "GET":
                response = client.get(path)
            elif path.startswith("/api/"):
                # An empty JSON object: past the parser, so the access check answers.
                response = client.post(path, {}, content_type="application/json")
            else:
                response = client.post(path)
            verdict = _verdict(response, rule)
            column = _column(persona, path, rule)
            if column is None:
                right = response.status_code == 401
                expected = "401"
            else:
                expected = "ALLOW" if column in rule.allowed else "DENY"
                right = verdict == expected
            if not right:
                wrong.append(
                    f"{rule.method} {path} as {persona.name}: {response.status_code},"
                    f" expected {expected}"
                )
            # A refusal may name the reference it was asked for; an answer may not show it.
            # A download streams its body (a complaint's file).
            body = b"".join(response.streaming_content) if response.streaming else response.content
            shown = world.complaint.reference.encode() in body
            if verdict == "ALLOW" and shown and column not in VIEWERS and not rule.bearer:
                leaks.append(f"{rule.method} {path} as {persona.name}")
    assert not wrong, "Answers that break the access policy:\n" + "\n".join(wrong)
    assert not leaks, "The complaint's reference shown to someone who may not see it:\n" + (
        "\n".join(leaks)
    )


@pytest.mark.django_db
def test_the_filer_and_the_address_owner_see_nothing_of_each_other(world):
    """The filer of an unproven complaint (its tracking link) sees nothing of customer_a,
    whose address they used; customer_a does not see the complaint as theirs until the
    address is confirmed."""
    owner = world.customer_a
    link = tracking_token(world.unproven.pk)
    for path in (f"/track/{link}/", f"/complaint/received/{link}/"):
        page = Client().get(path)
        assert page.status_code == 200
        html = page.content.decode()
        assert world.unproven.reference in html
        assert world.complaint.reference not in html
        assert owner.customer.name not in html

    client = Client()
    client.force_login(owner)
    listed = client.get("/api/complaints/")
    assert listed.status_code == 200
    assert world.complaint.reference in listed.content.decode()
    assert world.unproven.reference not in listed.content.decode()
    assert client.get(f"/api/complaints/{world.unproven.reference}/").status_code == 404


# -- sockets (the real ASGI application, channels-redis) ---------------------------------------


@pytest.fixture
def isolated_channel_layer(settings):
    layer = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test-matrix-{uuid.uuid4().hex[:12]}"}
    settings.CHANNEL_LAYERS = {"default": layer}


async def _socket_outcome(
    persona: Persona, path: str, headers, reference: str, *, refusal_expected: bool
) -> tuple:
    """(connected, joined): whether the socket opened, and whether opening the complaint
    joined its group (the consumer answers with its presence list) or was refused.

    A refused socket is accepted, then closed at once with its code (4401, 4403). Where a
    refusal is expected it is waited for; where it is not, the socket is used at once, and
    a close in its place fails the test loudly (the communicator expects a message)."""
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        connected, _code = await communicator.connect(timeout=RECEIVE_TIMEOUT_S)
        if not connected:
            return False, False
        if refusal_expected and not await communicator.receive_nothing(timeout=RECEIVE_TIMEOUT_S):
            closing = await communicator.receive_output(timeout=RECEIVE_TIMEOUT_S)
            assert closing["type"] == "websocket.close", closing
            return False, False
        if "/ws/track/" in path:
            await communicator.send_json_to({"type": "hello", "last_id": 0})
            joined = True
            while True:
                message = json.loads(await communicator.receive_from(timeout=RECEIVE_TIMEOUT_S))
                if message["type"] in ("replayed", "refetch"):
                    break
        else:
            await communicator.send_json_to({"type": "open", "complaint": reference})
            message = json.loads(await communicator.receive_from(timeout=RECEIVE_TIMEOUT_S))
            joined = message["type"] == "presence"
        return True, joined
    finally:
        # Refused sockets too: the consumer runs until the client's disconnect, and one left
        # running is cancelled by the event loop's shutdown instead of ending as it would.
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)


@pytest.mark.django_db(transaction=True)
def test_socket_matrix(world, production, personas, isolated_channel_layer):
    wrong = []
    for pattern, rule in SOCKET_RULES.items():
        for persona in personas:
            path = persona.socket_path(fill(pattern, world))
            headers = persona.socket_headers()
            # A token that opens nothing is refused on every socket, public ones included.
            column = persona.name if persona.name in SESSIONS else persona.acts_as
            expected = (column in rule["connect"], column in rule["open"])
            connected, joined = async_to_sync(_socket_outcome)(
                persona, path, headers, world.complaint.reference, refusal_expected=not expected[0]
            )
            if (connected, joined) != (expected[0], expected[0] and expected[1]):
                wrong.append(f"{path} as {persona.name}: connected={connected} joined={joined}")
    assert not wrong, "Sockets that break the access policy:\n" + "\n".join(wrong)
