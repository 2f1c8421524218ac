"""The desk's Held mail queue: held and quarantined inbound email, seen and decided on.

Personas (tests/conftest.py): ``agent`` and ``supervisor`` work the Billing team, which the
complaint is routed to; ``other_agent`` works Delivery; ``manager`` (complaints manager)
sees every complaint; ``customer_user`` filed the complaint. Mallory (mallory@example.net)
writes into the complaint's thread: her email is held. Quarantined email claims no complaint.
"""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.test import Client

from notifications import ingest as ingest_module
from notifications.ingest import ingest
from notifications.models import InboundEmail, InboundStatus
from recovery.models import Complaint, EventType, Message
from tests.conftest import acknowledge

MALLORY = "mallory@example.net"
QUEUE = "/desk/held-mail/"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _mail(*, sender=f"Mallory <{MALLORY}>", subject="Re: your complaint", body="Pay me.") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.net")
    message.set_content(body)
    return message.as_bytes()


def _desk(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _review(user, inbound, decision, reason=""):
    return _desk(user).post(
        f"{QUEUE}{inbound.pk}/review/", {"held-decision": decision, "held-reason": reason}
    )


@pytest.fixture
def complaint(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    complaint.refresh_from_db()
    return complaint


@pytest.fixture
def held(complaint) -> InboundEmail:
    # Names the complaint in its subject, from someone who is not its customer; its text
    # tries to smuggle markup onto the desk.
    inbound = ingest(
        _mail(
            subject=f"Re: {complaint.reference}",
            body="<script>alert('x')</script> Please pay the refund into account 12345678.",
        ),
        source="test",
    )
    assert inbound.status == InboundStatus.HELD
    return inbound


@pytest.fixture
def quarantined(monkeypatch) -> InboundEmail:
    """Mail a person wrote, quarantined because filing it failed (a bug, since fixed)."""
    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "open_complaint", _broken)
        inbound = ingest(
            _mail(sender="Jana <jana@example.org>", subject="My lamp", body="It never came."),
            source="test",
        )
    assert inbound.status == InboundStatus.QUARANTINED
    return inbound


def _broken(*args, **kwargs):
    raise RuntimeError("routing table missing")


@pytest.fixture
def unreadable() -> InboundEmail:
    inbound = ingest(_mail(sender="", subject="Hello", body="Who am I?"), source="test")
    assert inbound.status == InboundStatus.QUARANTINED
    return inbound


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["agent", "supervisor", "manager"])
def test_held_mail_is_listed_for_whoever_works_its_complaint(
    request, complaint, held, quarantined, persona
):
    page = _desk(request.getfixturevalue(persona)).get(QUEUE)

    html = page.content.decode()
    assert page.status_code == 200
    assert f"Mallory &lt;{MALLORY}&gt;" in html  # from
    assert f"Re: {complaint.reference}" in html  # subject
    assert f'href="/desk/complaints/{complaint.reference}/"' in html  # the complaint it claims
    assert "is not " in html and "nor a contact of theirs" in html  # why it was held
    assert held.received_at.strftime("%H:%M") in html
    # The preview is text: escaped, never markup.
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Please pay the refund" in html
    assert "<script>alert" not in html
    assert f'action="{QUEUE}{held.pk}/review/"' in html
    for decision in ("accept", "open", "discard"):
        assert f'name="held-decision" value="{decision}"' in html


@pytest.mark.django_db
def test_the_desk_navigation_links_the_queue_with_its_count(complaint, held, quarantined, agent):
    page = _desk(agent).get("/desk/").content.decode()

    assert f'href="{QUEUE}"' in page
    # The agent's count: the one email held on their team's complaint, not the quarantined.
    assert '<span class="count" id="held-mail-count">1</span>' in page


@pytest.mark.django_db
def test_supervisors_count_quarantined_mail_too(complaint, held, quarantined, supervisor):
    page = _desk(supervisor).get("/desk/").content.decode()

    assert '<span class="count" id="held-mail-count">2</span>' in page


@pytest.mark.django_db
def test_each_persona_counts_what_is_theirs_in_one_process(
    complaint, held, quarantined, agent, other_agent, supervisor, manager
):
    # The count is compiled once per shape and run with each user's id: one process serving
    # several people must give each their own figure, not the first one's.
    counts = {}
    for name, user in [
        ("agent", agent),
        ("other_agent", other_agent),
        ("supervisor", supervisor),
        ("manager", manager),
        ("agent again", agent),
    ]:
        page = _desk(user).get("/desk/").content.decode()
        start = page.index('id="held-mail-count">') + len('id="held-mail-count">')
        counts[name] = int(page[start : page.index("<", start)])

    assert counts == {
        "agent": 1,
        "other_agent": 0,
        "supervisor": 2,
        "manager": 2,
        "agent again": 1,
    }


@pytest.mark.django_db
def test_another_teams_agent_sees_neither_the_email_nor_the_complaint(complaint, held, other_agent):
    page = _desk(other_agent).get(QUEUE)

    html = page.content.decode()
    assert page.status_code == 200
    assert complaint.reference not in html
    assert MALLORY not in html
    assert "No email is held on the complaints you work." in html
    assert '<span class="count" id="held-mail-count">0</span>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["supervisor", "manager"])
def test_quarantined_mail_is_listed_for_supervisors_and_managers(
    request, quarantined, unreadable, persona
):
    html = _desk(request.getfixturevalue(persona)).get(QUEUE).content.decode()

    assert "Quarantined (2)" in html
    assert "jana@example.org" in html and "It never came." in html
    assert "ingestion failed (RuntimeError: routing table missing)" in html
    assert "no usable sender address" in html
    # Mail without a sender cannot become a complaint: only discarding is offered for it.
    item = html[html.index(f'id="email-{unreadable.pk}"') :]
    item = item[: item.index("</article>")]
    assert 'value="open"' not in item and 'value="accept"' not in item
    assert 'value="discard"' in item


@pytest.mark.django_db
def test_agents_do_not_see_quarantined_mail(quarantined, agent):
    html = _desk(agent).get(QUEUE).content.decode()

    assert "Quarantined" not in html
    assert "jana@example.org" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["customer_user", "outsider"])
def test_people_who_work_no_complaints_cannot_open_the_queue(request, held, persona):
    page = _desk(request.getfixturevalue(persona)).get(QUEUE)

    assert page.status_code == 403


# --- the decisions --------------------------------------------------------------------------


@pytest.mark.django_db
def test_accepting_from_the_queue_keeps_the_reason_and_the_contact(complaint, held, agent):
    answer = _review(agent, held, "accept", "Her brother; confirmed by phone")

    assert answer.status_code == 302
    assert answer["Location"] == QUEUE
    held.refresh_from_db()
    assert held.status == InboundStatus.ACCEPTED
    [event] = complaint.events.filter(type=EventType.HELD_EMAIL_ACCEPTED)
    assert event.parameters["reviewer_reason"] == "Her brother; confirmed by phone"
    assert Message.objects.get(pk=held.message_id).written_by == f"Mallory <{MALLORY}>"
    assert MALLORY not in _desk(agent).get(QUEUE).content.decode()


@pytest.mark.django_db
def test_opening_from_the_queue_files_the_senders_complaint(complaint, held, supervisor):
    answer = _review(supervisor, held, "open")

    assert answer.status_code == 302
    held.refresh_from_db()
    opened = Complaint.objects.get(pk=held.complaint_id)
    assert opened.customer.email == MALLORY
    [event] = complaint.events.filter(type=EventType.HELD_EMAIL_OPENED)
    assert event.parameters["new_reference"] == opened.reference


@pytest.mark.django_db
def test_discarding_from_the_queue_needs_a_reason(complaint, held, agent):
    refused = _review(agent, held, "discard", "   ")

    assert refused.status_code == 400
    assert "Say why the email is discarded." in refused.content.decode()
    held.refresh_from_db()
    assert held.status == InboundStatus.HELD

    answer = _review(agent, held, "discard", "Fraud attempt: asks for payment elsewhere")

    assert answer.status_code == 302
    held.refresh_from_db()
    assert held.status == InboundStatus.DISCARDED
    [event] = complaint.events.filter(type=EventType.HELD_EMAIL_DISCARDED)
    assert event.parameters["reason"] == "Fraud attempt: asks for payment elsewhere"


@pytest.mark.django_db
def test_a_second_decision_on_one_email_is_refused_saying_what_became_of_it(held, agent):
    assert _review(agent, held, "discard", "spam").status_code == 302

    again = _review(agent, held, "accept")

    assert again.status_code == 409
    assert "was reviewed already: discarded" in again.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["other_agent", "customer_user", "outsider"])
def test_nobody_outside_the_complaint_may_decide_on_its_held_mail(request, held, persona):
    answer = _review(request.getfixturevalue(persona), held, "accept", "mine")

    assert answer.status_code == 403
    held.refresh_from_db()
    assert held.status == InboundStatus.HELD


@pytest.mark.django_db
def test_a_quarantined_email_is_opened_as_a_complaint_with_the_reason_on_its_timeline(
    quarantined, supervisor
):
    answer = _review(supervisor, quarantined, "open", "A real customer; filing failed")

    assert answer.status_code == 302
    quarantined.refresh_from_db()
    assert quarantined.status == InboundStatus.ACCEPTED
    opened = Complaint.objects.get(pk=quarantined.complaint_id)
    assert opened.customer.email == "jana@example.org"
    assert opened.messages.get().body == "It never came."
    [event] = opened.events.filter(type=EventType.HELD_EMAIL_OPENED)
    assert event.actor == supervisor
    assert event.parameters["reviewer_reason"] == "A real customer; filing failed"


@pytest.mark.django_db
def test_a_quarantined_email_is_discarded_only_with_a_reason(unreadable, manager):
    assert _review(manager, unreadable, "discard").status_code == 400
    assert _review(manager, unreadable, "accept", "?").status_code == 400  # no complaint
    assert _review(manager, unreadable, "open", "?").status_code == 400  # nobody to answer

    answer = _review(manager, unreadable, "discard", "Test message from the mail provider")

    assert answer.status_code == 302
    unreadable.refresh_from_db()
    assert unreadable.status == InboundStatus.DISCARDED
    assert unreadable.reviewed_by == manager
    assert "discarded (Test message from the mail provider)" in unreadable.reason


@pytest.mark.django_db
def test_agents_may_not_decide_on_quarantined_mail(quarantined, agent):
    answer = _review(agent, quarantined, "discard", "mine")

    assert answer.status_code == 403
    quarantined.refresh_from_db()
    assert quarantined.status == InboundStatus.QUARANTINED


@pytest.mark.django_db
def test_the_reason_field_says_where_the_reason_is_kept(
    complaint, held, quarantined, unreadable, supervisor
):
    html = _desk(supervisor).get(QUEUE).content.decode()

    def item(inbound):
        found = html[html.index(f'id="email-{inbound.pk}"') :]
        return found[: found.index("</article>")]

    # Held mail claims a complaint: its reason goes on that complaint's timeline.
    assert f"Why (kept on {complaint.reference}'s timeline; required to discard)" in (item(held))
    # Quarantined mail has no complaint, hence no timeline: the reason stays with the email.
    for inbound in (quarantined, unreadable):
        assert "kept on" not in item(inbound)
        assert "recorded with this email only: it has no complaint, so no timeline" in (
            item(inbound)
        )
