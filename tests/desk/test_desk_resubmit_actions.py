"""The desk's other forms that change something, sent again: each does what it asks once.

A macro sent, a resolution, the loop closed, a recovery offered or decided, a category
changed: a double click, back and resend, a refresh, or two tabs at once post one rendering
of the form again, and only the first writes (one row, one timeline event, one email); the
others are answered with the page saying it was already done (``desk.submissions``).

Personas (tests/conftest.py): ``agent`` works the complaint, ``supervisor`` (same team)
changes its category and decides on recoveries above the agent's limit.
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from notifications.models import Outbox
from recovery import roles
from recovery.models import ApprovalLimit, Category, ComplaintEvent, RecoveryAction
from recovery.models.remedies import RecoveryStatus
from recovery.services import remedies
from tests.conftest import acknowledge, resolve
from tests.desk.conftest import signed_in
from tests.desk.test_desk_resubmit import RESUBMITS
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

    def data(self, client) -> dict:
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


FORMS = {
    # form: (the form ready to post, what the page says to a post of it again)
    "macro": (macro_sent, "Already sent; it was not sent again."),
    "resolve": (resolved, "Already resolved by this form; nothing was done again."),
    "close_loop": (loop_closed, "Already sent; it was not sent again."),
    "recovery": (recovery_offered, "Already offered by this form; it was not offered again."),
    "decide": (recovery_decided, "Already decided by this form; nothing was done again."),
    "recategorise": (recategorised, "Already moved by this form; nothing was done again."),
}


def written(complaint) -> Counter:
    """Everything written of the complaint that a post writes: its timeline events by type,
    its outbox rows (the emails, the notifications) by type, its messages, recoveries,
    root causes, and its category."""
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
