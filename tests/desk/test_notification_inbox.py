"""The desk's notification inbox: opening a notification reads it, "mark all read", the bell.

Personas (tests/conftest.py): ``agent`` and ``colleague`` work ``team`` (Billing);
``other_agent`` works ``other_team``; ``customer_user`` complained.
"""

import re

import pytest
from django.test import Client

from notifications.delivery import deliver
from notifications.models import Notification, NotificationPreference, Outbox
from recovery.services.messages import message_add
from tests.desk.conftest import signed_in

pytestmark = pytest.mark.django_db

BELL = re.compile(r'<span class="count" id="bell-count">(\d+)</span>')


def bell_of(client) -> int:
    return int(BELL.search(client.get("/desk/notifications/").content.decode()).group(1))


@pytest.fixture
def told(agent, colleague, make_complaint, customer_user):
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


def test_someone_elses_notification_cannot_be_opened_or_marked(agent, colleague, told):
    theirs = Notification.objects.filter(user=colleague).first()

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


def test_mark_all_read_needs_the_forms_csrf_token_and_then_reads_only_mine(agent, colleague, told):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert bell_of(client) > 0
    theirs_unread = Notification.objects.filter(user=colleague, read_at__isnull=True).count()
    assert theirs_unread > 0

    assert client.post("/desk/notifications/").status_code == 403
    assert Notification.objects.filter(user=agent, read_at__isnull=True).exists()

    page = client.get("/desk/notifications/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/desk/notifications/", {"csrfmiddlewaretoken": token}, follow=True)

    assert response.status_code == 200
    assert BELL.search(response.content.decode()).group(1) == "0"
    assert not Notification.objects.filter(user=agent, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=colleague, read_at__isnull=True).count() == (
        theirs_unread
    )


# -- how I am told ------------------------------------------------------------------------------

PREFERENCES_PAGE = "/desk/notifications/preferences/"


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(PREFERENCES_PAGE).content.decode()
    return client, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_the_preferences_page_shows_each_kind_and_saves_my_choices(agent, colleague):
    client, token = csrf_client(agent)
    page = client.get(PREFERENCES_PAGE).content.decode()
    for label in ("Escalations", "Deadlines at risk", "Recoveries needing approval"):
        assert label in page
    assert 'value="daily_digest"' in page

    response = client.post(
        PREFERENCES_PAGE,
        {
            "csrfmiddlewaretoken": token,
            "kind_escalated": "email",
            "kind_customer": "daily_digest",
            "kind_other": "silent",
            "kind_deadlines": "",
            "time_zone": "Europe/London",
        },
    )

    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=agent)
    assert preference.by_kind == {
        "escalated": "email",
        "customer": "daily_digest",
        "other": "silent",
    }
    assert preference.time_zone == "Europe/London"
    assert not NotificationPreference.objects.filter(user=colleague).exists()
    # Shown back as chosen.
    again = client.get(PREFERENCES_PAGE).content.decode()
    assert re.search(r'value="daily_digest"[^>]*id="id_kind_customer_\d"[^>]*checked', again)


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind_escalated", "pigeon"), ("time_zone", "Mars/Olympus")],
)
def test_a_bad_choice_is_shown_on_its_field_and_nothing_is_saved(agent, field, value):
    client, token = csrf_client(agent)
    NotificationPreference.objects.filter(user=agent).update(by_kind={"escalated": "email"})
    data = {"csrfmiddlewaretoken": token, "time_zone": "UTC", field: value}

    response = client.post(PREFERENCES_PAGE, data)

    assert response.status_code == 400
    page = response.content.decode()
    assert "There is a problem" in page
    assert f'id="id_{field}_errors"' in page
    assert NotificationPreference.objects.get(user=agent).by_kind == {"escalated": "email"}


def test_the_preferences_form_needs_its_csrf_token(agent):
    client, _ = csrf_client(agent)
    answer = client.post(PREFERENCES_PAGE, {"kind_escalated": "silent", "time_zone": "UTC"})
    assert answer.status_code == 403
    assert NotificationPreference.objects.get(user=agent).by_kind == {}


# -- older pages --------------------------------------------------------------------------------

INBOX_LINK = re.compile(r'href="/desk/notifications/(\d+)/"')
OLDER = re.compile(r'<a href="\?before=(\d+)" rel="next">Older</a>')
NEWER = re.compile(r'<a href="\?after=(\d+)" rel="prev">Newer</a>')


@pytest.fixture
def sixty_five(agent, colleague) -> list[Notification]:
    """65 unread notifications for the agent, oldest first; one for the colleague."""
    events = Outbox.objects.bulk_create(
        Outbox(event_type="complaint.message", idempotency_key=f"inbox-page-{n}") for n in range(66)
    )
    mine = Notification.objects.bulk_create(
        Notification(user=agent, outbox=event, event_type=event.event_type, summary=f"Note {n}")
        for n, event in enumerate(events[:65])
    )
    Notification.objects.create(
        user=colleague, outbox=events[65], event_type="complaint.message", summary="Theirs"
    )
    return mine


def shown(html: str) -> list[int]:
    return [int(pk) for pk in INBOX_LINK.findall(html)]


def test_older_notifications_are_a_link_away_and_newer_ones_a_link_back(agent, sixty_five):
    client = signed_in(agent)
    newest_first = [row.pk for row in reversed(sixty_five)]

    first = client.get("/desk/notifications/").content.decode()

    assert bell_of(client) == 65
    assert shown(first) == newest_first[:50]
    assert "The newest 50 notifications." in first
    assert not NEWER.search(first)
    older = OLDER.search(first).group(1)
    assert int(older) == sixty_five[15].outbox_id

    second = client.get(f"/desk/notifications/?before={older}").content.decode()

    assert shown(second) == newest_first[50:]
    assert "15 notifications, from " in second
    assert not OLDER.search(second)
    newer = NEWER.search(second).group(1)

    back = client.get(f"/desk/notifications/?after={newer}").content.decode()

    assert shown(back) == newest_first[:50]
    assert not NEWER.search(back)
    assert OLDER.search(back).group(1) == older
    # ?page= was never a thing: it shows the newest, as before.
    assert shown(client.get("/desk/notifications/?page=2").content.decode()) == shown(first)


def test_mark_all_read_from_an_older_page_reads_every_page(agent, colleague, sixty_five):
    client = signed_in(agent)
    older = OLDER.search(client.get("/desk/notifications/").content.decode()).group(1)

    client.post(f"/desk/notifications/?before={older}")

    assert not Notification.objects.filter(user=agent, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=colleague, read_at__isnull=True).count() == 1


def test_every_page_costs_the_same_statements(agent, sixty_five):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(agent)
    client.get("/desk/notifications/")  # the session and the configuration, read once
    counts = []
    for query in ("", f"?before={sixty_five[15].outbox_id}", f"?after={sixty_five[14].outbox_id}"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/desk/notifications/{query}").status_code == 200
        counts.append(len(queries))

    assert len(set(counts)) == 1, counts


@pytest.mark.parametrize(
    "query",
    [
        "before=soon",
        "before=-5",
        "before=0",
        "before=99999999999999999999999999",
        "before=1%00",
        "after=%00",
        "after=1.5",
        "before=3&after=2",
    ],
)
def test_a_wrong_page_link_is_said_and_the_newest_are_shown(agent, sixty_five, query):
    client = signed_in(agent)

    response = client.get(f"/desk/notifications/?{query}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "does not name a page of notifications" in html
    assert shown(html) == [row.pk for row in reversed(sixty_five)][:50]


@pytest.mark.parametrize("query", ["before=1", "after=9223372036854775807"])
def test_a_page_past_either_end_is_empty_and_leads_back(agent, sixty_five, query):
    html = signed_in(agent).get(f"/desk/notifications/?{query}").content.decode()

    assert shown(html) == []
    assert "No notifications on this page." in html
    assert 'href="/desk/notifications/">Back to the newest' in html
