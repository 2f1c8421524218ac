"""Tracking links: revoked and re-issued by staff, expiring after the complaint closes.

Personas (tests/conftest.py): ``agent`` works the complaint (its team); ``other_agent`` is on
another team; the customer filed it from the public form and holds the link.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from notifications import delivery
from notifications.models import EmailDelivery, Outbox
from notifications.replay import complaint_of_tracking_token
from recovery.models import ComplaintEvent, EventType
from recovery.services import tracking_links
from recovery.services.lifecycle import complaint_withdraw
from tests.conftest import acknowledge
from tests.desk.conftest import signed_in
from tests.notifications.shipped_templates import ensure_default_templates


@pytest.fixture
def complaint(make_complaint, agent):
    ensure_default_templates()
    found = make_complaint()
    acknowledge(found, agent)
    return found


def track_url(token: str) -> str:
    return f"/track/{token}/"


def reissue(client: Client, complaint, reason="The customer forwarded the email to a stranger."):
    return client.post(
        f"/desk/complaints/{complaint.reference}/tracking-link/",
        {"tracking_link-reason": reason},
    )


def test_a_revoked_link_answers_gone_and_the_new_one_is_emailed(complaint, agent, settings):
    old = tracking_links.tracking_token(complaint)
    assert Client().get(track_url(old)).status_code == 200

    answer = reissue(signed_in(agent), complaint)

    assert answer.status_code == 302
    complaint.refresh_from_db()
    new = tracking_links.tracking_token(complaint)
    assert new != old
    gone = Client().get(track_url(old))
    assert gone.status_code == 410
    assert "replaced by a newer one" in gone.content.decode()
    assert complaint.reference in gone.content.decode()  # the page asks them to quote it
    assert Client().post(f"{track_url(old)}reply/", {"body": "hello"}).status_code == 410
    assert complaint_of_tracking_token(old) is None
    assert Client().get(track_url(new)).status_code == 200
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.TRACKING_LINK_REISSUED)
    assert event.actor == agent
    assert event.parameters["reason"] == "The customer forwarded the email to a stranger."
    # The outbox row emails the customer the new link, after commit, like every email.
    row = Outbox.objects.get(
        complaint_id=complaint.pk, event_type="complaint.tracking_link_reissued"
    )
    assert row.audience["customer"] == complaint.customer_id
    delivery.deliver(row.pk)
    sent = EmailDelivery.objects.get(outbox=row)
    assert sent.kind == "tracking_link"
    assert sent.recipient == complaint.customer.email
    # The emailed link is signed when the email is written, so its timestamp may differ from
    # ``new``; what matters is that it opens this complaint and the old one does not.
    emailed = re.search(r"/track/([^/\s]+)/", sent.body_text)
    assert emailed is not None, sent.body_text
    assert complaint_of_tracking_token(emailed.group(1)) == complaint.pk
    assert Client().get(track_url(emailed.group(1))).status_code == 200
    assert track_url(old) not in sent.body_text


def test_reissuing_needs_a_reason_and_someone_who_works_the_complaint(
    complaint, agent, other_agent
):
    old = tracking_links.tracking_token(complaint)

    assert reissue(signed_in(agent), complaint, reason="").status_code == 400
    assert reissue(signed_in(other_agent), complaint).status_code == 403

    complaint.refresh_from_db()
    assert complaint.tracking_link_version == 1
    assert complaint_of_tracking_token(old) == complaint.pk
    assert not ComplaintEvent.objects.filter(type=EventType.TRACKING_LINK_REISSUED).exists()


@pytest.mark.parametrize("days_later, status", [(29, 200), (30, 410), (31, 410)])
def test_a_link_expires_a_set_time_after_the_complaint_closed(
    complaint, agent, settings, days_later, status
):
    settings.REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE = 30
    token = tracking_links.tracking_token(complaint)
    complaint_withdraw(complaint=complaint, actor=agent, reason="Sorted in store")

    with time_machine.travel(timezone.now() + timedelta(days=days_later, seconds=1)):
        answer = Client().get(track_url(token))
        # The socket asks the same question.
        opened = complaint_of_tracking_token(token)

    assert answer.status_code == status
    if status == 410:
        assert "has expired" in answer.content.decode()
        assert opened is None
    else:
        assert opened == complaint.pk


def test_an_open_complaint_s_link_does_not_expire(complaint, settings):
    settings.REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE = 1
    token = tracking_links.tracking_token(complaint)

    with time_machine.travel(timezone.now() + timedelta(days=400)):
        assert Client().get(track_url(token)).status_code == 200


def test_a_link_signed_before_versions_counts_as_the_first(complaint):
    from django.core import signing

    legacy = signing.dumps({"c": complaint.pk}, salt=tracking_links.TRACKING_SALT, compress=True)

    assert Client().get(track_url(legacy)).status_code == 200
    tracking_links.tracking_link_reissue(
        complaint=complaint, actor=complaint.team.members.first(), reason="Leaked"
    )
    assert Client().get(track_url(legacy)).status_code == 410
