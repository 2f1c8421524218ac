"""The desk's notification inbox: opening a notification reads it, "mark all read", the bell.

Personas (tests/conftest.py): ``agent`` and ``supervisor`` work ``team`` (Billing);
``other_agent`` works ``other_team``; ``customer_user`` complained.
"""

import re

import pytest
from django.test import Client

from notifications.delivery import deliver
from notifications.models import Notification, Outbox
from recovery.services.messages import message_add
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db

BELL = re.compile(r'<span class="count" id="bell-count">(\d+)</span>')


def bell_of(client) -> int:
    return int(BELL.search(client.get("/desk/notifications/").content.decode()).group(1))


@pytest.fixture
def told(agent, supervisor, make_complaint, customer_user):
    """Two complaints the customer wrote on: each member of the team has unread notifications."""
    complaints = [make_complaint(), make_complaint()]
    for complaint in complaints:
        message_add(complaint=complaint, actor=customer_user, body="Any news?")
    for row in Outbox.objects.order_by("id"):
        deliver(row.pk)
    return complaints


def test_following_a_notification_marks_it_read_and_opens_its_complaint(agent, told):
    client = signed_in(agent)
    unread = bell_of(client)
    row = Notification.objects.filter(user=agent, complaint_id=told[0].pk).latest("outbox_id")

    response = client.get(f"/desk/notifications/{row.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/desk/complaints/{told[0].reference}/"
    row.refresh_from_db()
    assert row.read_at is not None
    # The page it opens counts one fewer; the other notifications are untouched.
    assert bell_of(client) == unread - 1
    assert Notification.objects.filter(user=agent, read_at__isnull=False).count() == 1

    # Opening it again keeps when it was first read.
    first_read = row.read_at
    client.get(f"/desk/notifications/{row.pk}/")
    row.refresh_from_db()
    assert row.read_at == first_read


def test_someone_elses_notification_cannot_be_opened_or_marked(agent, supervisor, told):
    theirs = Notification.objects.filter(user=supervisor).first()

    response = signed_in(agent).get(f"/desk/notifications/{theirs.pk}/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert signed_in(agent).get("/desk/notifications/99999999/").status_code == 404


def test_opening_a_notification_needs_a_signed_in_member_of_staff(agent, customer_user, told):
    row = Notification.objects.filter(user=agent).first()
    path = f"/desk/notifications/{row.pk}/"

    assert Client().get(path)["Location"].startswith(f"/desk/login/?next={path}")
    assert signed_in(customer_user).get(path).status_code == 403
    row.refresh_from_db()
    assert row.read_at is None


def test_mark_all_read_needs_the_forms_csrf_token_and_then_reads_only_mine(agent, supervisor, told):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert bell_of(client) > 0
    theirs_unread = Notification.objects.filter(user=supervisor, read_at__isnull=True).count()
    assert theirs_unread > 0

    assert client.post("/desk/notifications/").status_code == 403
    assert Notification.objects.filter(user=agent, read_at__isnull=True).exists()

    page = client.get("/desk/notifications/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/desk/notifications/", {"csrfmiddlewaretoken": token}, follow=True)

    assert response.status_code == 200
    assert BELL.search(response.content.decode()).group(1) == "0"
    assert not Notification.objects.filter(user=agent, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=supervisor, read_at__isnull=True).count() == (
        theirs_unread
    )
