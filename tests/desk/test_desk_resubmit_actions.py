"""The desk's other forms that change something, sent again: each does what it asks once.

A macro sent, a resolution, the loop closed, a recovery offered or decided, a category
changed, a hold, a reopening, an assignment, an escalation, a written response or a delay
notification sent, a new tracking link sent, a customer linked, a duplicate merged, a held
email decided on, a failed email resent: a double click, back and resend, a refresh, or two tabs at once post one rendering
of the form again, and only the first writes (one row, one timeline event, one email); the
others are answered with the page saying it was already done (``desk.submissions``).

Personas (tests/conftest.py): ``agent`` works the complaint, ``supervisor`` (same team)
changes its category, decides on recoveries above the agent's limit, escalates and merges.
"""

import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.ingest import ingest
from notifications.models import EmailDelivery, EmailStatus, InboundEmail, InboundStatus, Outbox
from recovery import roles
from recovery.models import (
    ApprovalLimit,
    Category,
    Complaint,
    ComplaintEvent,
    Customer,
    RecoveryAction,
)
from recovery.models.remedies import RecoveryStatus
from recovery.services import remedies, sla
from tests.conftest import acknowledge, resolve
from tests.desk.conftest import signed_in
from tests.desk.test_desk_resubmit import RESUBMITS
from tests.desk.test_held_mail import _mail
from tests.desk.test_macros import make_macro
from tests.recovery.test_concurrency import lock_complaint, race

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Posted:
    """One form of the desk, ready to post: where it is shown and where it posts."""

    user: object
    complaint: object
    shown_at: str  # the page that renders the form (its token) and, after, the answer
    posts_to: str
    prefix: str
    fields: dict
    # What the service waits for when two posts arrive at once: the race queues behind it.
    lock: Callable[[], None]
    # The page that renders the form, when it is the answer to a post rather than shown_at.
    render: Callable[[Client], str] | None = None

    def data(self, client) -> dict:
        if self.render is not None:
            page = self.render(client)
        else:
            page = client.get(self.shown_at).content.decode()
        (token,) = re.findall(rf'name="{self.prefix}-submission" value="([^"]+)"', page)
        return {
            **{f"{self.prefix}-{name}": value for name, value in self.fields.items()},
            f"{self.prefix}-submission": token,
        }


def page_of(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/"


def macro_sent(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    macro = make_macro(supervisor, name=f"On it ({complaint.reference})")
    return Posted(
        agent,
        complaint,
        f"{page_of(complaint)}?macro={macro.pk}",
        f"{page_of(complaint)}macro/",
        "macro",
        {"macro": macro.pk, "expected_state": "acknowledged", "body": "We are on it."},
        lock_complaint(complaint),
    )


def resolved(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}resolve/",
        "resolve",
        {
            "expected_state": "acknowledged",
            "outcome": "upheld",
            "primary_root_cause": "billing.duplicate-charge",
            "contributing_root_causes": ["billing.refund-delay"],
            "summary": "Refunded the second charge.",
        },
        lock_complaint(complaint),
    )


def loop_closed(agent, supervisor, make_complaint) -> Posted:
    complaint = resolve(acknowledge(make_complaint(), agent), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}close-loop/",
        "close_loop",
        {
            "expected_state": "resolved",
            "what_we_found": "A retry in the payment gateway.",
            "what_we_did": "Refunded the charge.",
            "what_will_change": "The gateway no longer retries a paid order.",
        },
        lock_complaint(complaint),
    )


def recovery_offered(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}recovery/",
        "recovery",
        {"type": "refund", "amount": "20.00", "currency": "GBP", "description": "The fare."},
        lock_complaint(complaint),
    )


def recovery_decided(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    # Above the agent's limit, within the supervisor's (the defaults' rows are not kept
    # between tests that commit).
    for role, limit in ((roles.AGENT, 50), (roles.SUPERVISOR, 500)):
        ApprovalLimit.objects.update_or_create(
            role=role, currency="GBP", defaults={"amount": limit}
        )
    action = remedies.recovery_propose(
        complaint=complaint, actor=agent, type="goodwill", amount=200, currency="GBP"
    )
    assert action.status == RecoveryStatus.AWAITING_APPROVAL
    return Posted(
        supervisor,
        complaint,
        "/desk/approvals/",
        f"/desk/approvals/{action.pk}/decide/",
        f"decide-{action.pk}",
        {"decision": "approve", "reason": "A fair gesture."},
        # The decision waits for the action's row, not the complaint's.
        lambda: RecoveryAction.objects.select_for_update().get(pk=action.pk),
    )


def recategorised(agent, supervisor, make_complaint) -> Posted:
    complaint = make_complaint()
    billing, _ = Category.objects.get_or_create(name="Billing", slug="billing")
    return Posted(
        supervisor,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}category/",
        "recategorise",
        {"category": billing.pk, "reason": "A card fee, not a payment."},
        lock_complaint(complaint),
    )


def held(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}hold/",
        "hold",
        {"awaiting": "1", "reason": "Waiting for the card statement."},
        lock_complaint(complaint),
    )


def reopened(agent, supervisor, make_complaint) -> Posted:
    complaint = resolve(acknowledge(make_complaint(), agent), agent)
    return Posted(
        supervisor,  # a supervisor's call (rules.may_reopen)
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}reopen/",
        "reopen",
        {"expected_state": "resolved", "reason": "The refund never arrived."},
        lock_complaint(complaint),
    )


def assigned(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    # The supervisor's own: the page offers them Reassign, not also "Take it".
    sla.complaint_assign(complaint=complaint, assignee=supervisor, reason="test")
    return Posted(
        supervisor,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}assign/",
        "assign",
        {"assignee": agent.pk, "reason": "Back to the agent, with the refund approved."},
        lock_complaint(complaint),
    )


def escalated(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    return Posted(
        supervisor,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}escalate/",
        "escalate",
        {"direction": "up", "reason": "The customer is vulnerable."},
        lock_complaint(complaint),
    )


def in_a_month() -> str:
    """A date a letter may promise: after today, within the year."""
    return (timezone.now() + timedelta(days=30)).date().isoformat()


def written_response_sent(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(regulatory_profile="uk_fca_disp"), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}written-response/",
        "written_response",
        {"reason": "We wait for the card network's records.", "expected_by": in_a_month()},
        lock_complaint(complaint),
    )


def delay_notified(agent, supervisor, make_complaint) -> Posted:
    complaint = make_complaint(regulatory_profile="au_asic_rg271", jurisdiction="AU-NSW")
    complaint = acknowledge(complaint, agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}delay-notification/",
        "delay_notification",
        {"reason": "We wait for the card network's records.", "expected_by": in_a_month()},
        lock_complaint(complaint),
    )


def tracking_link_sent(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}tracking-link/",
        "tracking_link",
        {"reason": "The customer forwarded the email to a stranger."},
        lock_complaint(complaint),
    )


def customer_linked(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    # Filed under the address of a customer on record, who has not confirmed it is theirs.
    owner = Customer.objects.create(name="Olivia Owner", email=f"{uuid.uuid4().hex}@example.com")
    Complaint.objects.filter(pk=complaint.pk).update(customer_match=owner)
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}link-customer/",
        "link_customer",
        {"reason": "Called the customer back."},
        lock_complaint(complaint),
    )


def merged(agent, supervisor, make_complaint) -> Posted:
    survivor, duplicate = make_complaint(), make_complaint()
    fields = {"duplicate": duplicate.reference, "reason": "Same order.", "confirm": "on"}

    def confirmation(client) -> str:
        # The first post shows both complaints; its answer renders the form that merges.
        answer = client.post(
            f"{page_of(survivor)}merge/",
            {"merge-duplicate": duplicate.reference, "merge-reason": "Same order."},
        )
        assert answer.status_code == 200
        return answer.content.decode()

    return Posted(
        supervisor,
        survivor,
        page_of(survivor),
        f"{page_of(survivor)}merge/",
        "merge",
        fields,
        lock_complaint(survivor),
        render=confirmation,
    )


def held_email_decided(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    # From someone who is not the customer, naming the complaint: held for review.
    inbound = ingest(_mail(subject=f"Re: {complaint.reference}"), source="test")
    assert inbound.status == InboundStatus.HELD
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}held-email/",
        "held",
        {"inbound": inbound.pk, "decision": "discard", "reason": "Not the customer."},
        # The review waits for the held email's row.
        lambda: InboundEmail.objects.select_for_update().get(pk=inbound.pk),
    )


def email_resent(agent, supervisor, make_complaint) -> Posted:
    complaint = acknowledge(make_complaint(), agent)
    told = Outbox.objects.filter(complaint_id=complaint.pk).order_by("id").first()
    failed = EmailDelivery.objects.create(
        outbox=told,
        complaint_id=complaint.pk,
        recipient=complaint.customer.email,
        kind="receipt",
        subject="We have your complaint",
        body_text="We have your complaint.",
        rfc_message_id=f"<{uuid.uuid4().hex}@redress.invalid>",
        status=EmailStatus.FAILED,
        failure_reason="Mailbox unavailable",
    )
    return Posted(
        agent,
        complaint,
        page_of(complaint),
        f"{page_of(complaint)}resend-email/",
        "resend",
        {"email": failed.pk},
        # The resend waits for the failed email's row.
        lambda: EmailDelivery.objects.select_for_update().get(pk=failed.pk),
    )


FORMS = {
    # form: (the form ready to post, what the page says to a post of it again)
    "macro": (macro_sent, "Already sent; it was not sent again."),
    "resolve": (resolved, "Already resolved by this form; nothing was done again."),
    "close_loop": (loop_closed, "Already sent; it was not sent again."),
    "recovery": (recovery_offered, "Already offered by this form; it was not offered again."),
    "decide": (recovery_decided, "Already decided by this form; nothing was done again."),
    "recategorise": (recategorised, "Already moved by this form; nothing was done again."),
    "hold": (held, "Already done by this form; the hold was not changed again."),
    "reopen": (reopened, "Already reopened by this form; nothing was done again."),
    "assign": (assigned, "Already assigned by this form; nothing was done again."),
    "escalate": (escalated, "Already escalated by this form; the level was not changed again."),
    "written_response": (
        written_response_sent,
        "Written response already sent by this form; it was not sent again.",
    ),
    "delay_notification": (
        delay_notified,
        "Delay notification already sent by this form; it was not sent again.",
    ),
    "tracking_link": (
        tracking_link_sent,
        "A new link was already sent by this form; it was not sent again.",
    ),
    "link_customer": (customer_linked, "Already linked by this form; nothing was done again."),
    "merge": (merged, "Already merged by this form; nothing was done again."),
    "held": (
        held_email_decided,
        "Already decided by this form; nothing was done again with the email.",
    ),
    "resend": (email_resent, "Already queued again by this form; it was not queued a second time."),
}


def written(complaint) -> Counter:
    """Everything written of the complaint that a post writes: its timeline events by type,
    its outbox rows (the emails, the notifications) and its emails by type, its messages,
    recoveries, root causes, and its category."""
    complaint.refresh_from_db()
    return Counter(
        {
            **{
                f"event {kind}": n
                for kind, n in Counter(
                    ComplaintEvent.objects.filter(complaint=complaint).values_list(
                        "type", flat=True
                    )
                ).items()
            },
            **{
                f"outbox {kind}": n
                for kind, n in Counter(
                    Outbox.objects.filter(complaint_id=complaint.pk).values_list(
                        "event_type", flat=True
                    )
                ).items()
            },
            **{
                f"email {kind}": n
                for kind, n in Counter(
                    EmailDelivery.objects.filter(complaint_id=complaint.pk).values_list(
                        "kind", flat=True
                    )
                ).items()
            },
            "messages": complaint.messages.count(),
            "recoveries": complaint.recovery_actions.count(),
            "recoveries decided": complaint.recovery_actions.filter(
                decided_at__isnull=False
            ).count(),
            "root causes": complaint.root_causes.count(),
            f"category {complaint.category.name if complaint.category else ''}": 1,
        }
    )


def one_post_writes(build, agent, supervisor, make_complaint) -> Counter:
    """What a single post of the form writes, measured on a complaint of its own."""
    form = build(agent, supervisor, make_complaint)
    client = signed_in(form.user)
    data = form.data(client)
    before = written(form.complaint)
    assert client.post(form.posts_to, data).status_code == 302
    after = written(form.complaint)
    after.subtract(before)
    return +after


@pytest.mark.parametrize("name", FORMS)
def test_the_same_form_posted_again_does_it_once_and_says_already(
    agent, supervisor, make_complaint, root_causes, name
):
    build, already = FORMS[name]
    form = build(agent, supervisor, make_complaint)
    client = signed_in(form.user)
    data = form.data(client)
    before = written(form.complaint)

    first = client.post(form.posts_to, data)
    once = written(form.complaint)
    again = [client.post(form.posts_to, data) for _ in range(RESUBMITS)]

    assert first.status_code == 302
    assert once != before  # the first post did what it asks
    # Every other post is answered as the first was, and writes nothing.
    assert [a.status_code for a in again] == [302] * RESUBMITS
    assert {a["Location"] for a in again} == {first["Location"]}
    assert written(form.complaint) == once
    assert already in client.get(first["Location"]).content.decode()


@pytest.mark.parametrize("name", FORMS)
def test_the_same_form_posted_at_once_does_it_once(
    agent, supervisor, make_complaint, root_causes, name
):
    build = FORMS[name][0]
    expected = one_post_writes(build, agent, supervisor, make_complaint)
    form = build(agent, supervisor, make_complaint)
    data = form.data(signed_in(form.user))
    before = written(form.complaint)
    clients = [signed_in(form.user) for _ in range(RESUBMITS)]

    outcomes = race(
        [lambda c=c: c.post(form.posts_to, data) for c in clients],
        behind=form.lock,
    )

    assert [o.error for o in outcomes] == [None] * RESUBMITS
    assert [o.value.status_code for o in outcomes] == [302] * RESUBMITS
    after = written(form.complaint)
    after.subtract(before)
    assert +after == expected


def test_a_recovery_offer_sent_again_with_another_amount_offers_nothing_and_says_why(
    agent, make_complaint, root_causes
):
    form = recovery_offered(agent, None, make_complaint)
    client = signed_in(agent)
    data = form.data(client)
    assert client.post(form.posts_to, data).status_code == 302

    again = client.post(form.posts_to, {**data, "recovery-amount": "30.00"})

    assert again.status_code == 409
    assert "sent already, with other words" in again.content.decode()
    assert [a.amount for a in RecoveryAction.objects.filter(complaint=form.complaint)] == [20]
    # What they wrote is kept, under a fresh token that offers it as a new recovery.
    (fresh,) = re.findall(r'name="recovery-submission" value="([^"]+)"', again.content.decode())
    assert fresh != data["recovery-submission"]
    resent = {**data, "recovery-amount": "30.00", "recovery-submission": fresh}
    assert client.post(form.posts_to, resent).status_code == 302
    assert RecoveryAction.objects.filter(complaint=form.complaint).count() == 2


def test_a_form_the_service_refused_does_it_under_its_token_once_fixed(
    agent, supervisor, make_complaint
):
    """Nothing is kept of a post the service refused: back and resend, corrected, works."""
    complaint = make_complaint()  # not acknowledged: the macro acknowledges it
    macro = make_macro(supervisor)
    form = Posted(
        agent,
        complaint,
        f"{page_of(complaint)}?macro={macro.pk}",
        f"{page_of(complaint)}macro/",
        "macro",
        {"macro": macro.pk, "expected_state": "received", "next_steps": "We call you."},
        lock_complaint(complaint),
    )
    client = signed_in(agent)
    data = form.data(client)

    refused = client.post(form.posts_to, {**data, "macro-body": "No reference in here."})
    done = client.post(form.posts_to, {**data, "macro-body": f"We have {complaint.reference}."})

    assert refused.status_code == 400
    assert done.status_code == 302
    assert ComplaintEvent.objects.filter(complaint=complaint, type="acknowledged").count() == 1


def test_take_it_and_reassign_are_two_forms_each_sent_once(supervisor, make_complaint):
    """ "Take it" posts to the same action as Reassign, from its own rendering: taking the
    complaint does not answer a reassignment from the same page as already done."""
    complaint = make_complaint()  # nobody's yet: the page offers both
    client = signed_in(supervisor)
    page = client.get(page_of(complaint)).content.decode()
    take_token, reassign_token = re.findall(r'name="assign-submission" value="([^"]+)"', page)
    take = {
        "assign-assignee": supervisor.pk,
        "assign-reason": "taken from the queue",
        "assign-submission": take_token,
    }

    taken = [client.post(f"{page_of(complaint)}assign/", take) for _ in range(RESUBMITS)]
    reassigned = client.post(
        f"{page_of(complaint)}assign/",
        {
            "assign-assignee": "",
            "assign-reason": "Back to the team.",
            "assign-submission": reassign_token,
        },
    )

    assert take_token != reassign_token
    assert [a.status_code for a in taken] == [302] * RESUBMITS
    assert reassigned.status_code == 302
    assigned = ComplaintEvent.objects.filter(complaint=complaint, type="assigned")
    assert assigned.count() == 2  # taken once, then given back to the team once
    complaint.refresh_from_db()
    assert complaint.assignee is None
