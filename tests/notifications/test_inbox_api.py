"""The inbox over HTTP: list, unread filter and count, mark read, and preferences.

Personas (tests/conftest.py): ``agent`` owns the inbox under test; ``other_agent`` has
an inbox of their own that nothing ``agent`` does may touch.
"""

import pytest

from notifications import delivery
from notifications.api import MARK_READ_MAX_IDS
from notifications.models import Notification, NotificationPreference
from notifications.outbox import outbox_add_many
from tests.conftest import api_client

INBOX = "/api/notifications/"
UNREAD_COUNT = "/api/notifications/unread-count/"
MARK_READ = "/api/notifications/mark-read/"
PREFERENCES = "/api/notifications/preferences/"
# The inbox page size (notifications.api.InboxPagination).
PAGE_SIZE = 50


def notify(*users, count: int = 1, event_type: str = "complaint.acknowledged") -> list[int]:
    """Deliver ``count`` events to ``users`` the way real events arrive; returns the event
    (outbox) ids, oldest first."""
    ids = outbox_add_many(
        [
            {
                "event_type": event_type,
                "complaint_id": None,
                "audience": {"users": [user.pk for user in users]},
                "payload": {"v": 1, "reference": f"RDR-2026-{n:06d}", "parameters": {}},
            }
            for n in range(1, count + 1)
        ]
    )
    for outbox_id in ids:
        assert delivery.deliver(outbox_id)
    return ids


def inbox_ids(user, **filters) -> list[int]:
    return list(
        Notification.objects.filter(user=user, **filters)
        .order_by("outbox_id")
        .values_list("pk", flat=True)
    )


def unread_ids(user) -> list[int]:
    return inbox_ids(user, read_at__isnull=True)


# -- listing --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_inbox_lists_the_users_own_notifications_newest_first(agent, other_agent):
    event_ids = notify(agent, count=3)
    notify(other_agent, count=2)

    response = api_client(agent).get(INBOX)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["unread"] == 3
    assert [row["event_id"] for row in body["results"]] == event_ids[::-1]
    newest = body["results"][0]
    assert newest == {
        "id": Notification.objects.get(user=agent, outbox_id=event_ids[-1]).pk,
        "event_id": event_ids[-1],
        "event_type": "complaint.acknowledged",
        "reference": "RDR-2026-000003",
        "summary": "RDR-2026-000003: acknowledged",
        "link": "/api/complaints/RDR-2026-000003/",
        "created_at": newest["created_at"],
        "read": False,
        "read_at": None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["1", "true"])
def test_the_unread_filter_leaves_out_what_was_read(agent, flag):
    notify(agent, count=4)
    first, second, *_ = inbox_ids(agent)
    api_client(agent).post(MARK_READ, {"ids": [first, second]}, format="json")

    unread = api_client(agent).get(INBOX, {"unread": flag}).json()
    everything = api_client(agent).get(INBOX, {"unread": "0"}).json()

    assert {row["id"] for row in unread["results"]} == set(unread_ids(agent))
    assert unread["count"] == 2
    assert not any(row["read"] for row in unread["results"])
    assert everything["count"] == 4


@pytest.mark.django_db
def test_the_inbox_is_paginated(agent):
    notify(agent, count=PAGE_SIZE + 5)
    client = api_client(agent)

    first = client.get(INBOX).json()
    second = client.get(INBOX, {"page": 2}).json()
    small = client.get(INBOX, {"page_size": 7}).json()

    assert first["count"] == PAGE_SIZE + 5
    assert len(first["results"]) == PAGE_SIZE
    assert first["next"] is not None and first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    listed = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(listed) == inbox_ids(agent)  # every row once, across pages
    assert len(small["results"]) == 7
    assert client.get(INBOX, {"page": 3}).status_code == 404


@pytest.mark.django_db
def test_the_inbox_needs_a_login(agent):
    notify(agent)
    for url in (INBOX, UNREAD_COUNT, PREFERENCES):
        assert api_client().get(url).status_code == 401
    assert api_client().post(MARK_READ, {"all": True}, format="json").status_code == 401
    assert unread_ids(agent) == inbox_ids(agent)


# -- unread count ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_unread_count_counts_only_the_users_unread_rows(agent, other_agent):
    notify(agent, count=3)
    notify(other_agent, count=5)
    api_client(agent).post(MARK_READ, {"ids": inbox_ids(agent)[:1]}, format="json")

    assert api_client(agent).get(UNREAD_COUNT).json() == {"unread": 2}
    assert api_client(other_agent).get(UNREAD_COUNT).json() == {"unread": 5}


# -- mark read ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_mark_read_by_ids_marks_those_and_ignores_other_users_ids(agent, other_agent):
    notify(agent, other_agent, count=3)
    mine = inbox_ids(agent)
    theirs = inbox_ids(other_agent)

    response = api_client(agent).post(MARK_READ, {"ids": [mine[0], theirs[1]]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"marked": 1, "unread": 2}
    assert unread_ids(agent) == mine[1:]
    assert unread_ids(other_agent) == theirs


@pytest.mark.django_db
def test_mark_read_up_to_an_event_id_marks_that_event_and_everything_before(agent, other_agent):
    event_ids = notify(agent, other_agent, count=5)

    response = api_client(agent).post(MARK_READ, {"up_to_event_id": event_ids[2]}, format="json")

    assert response.json() == {"marked": 3, "unread": 2}
    assert (
        list(
            Notification.objects.filter(user=agent, read_at__isnull=True)
            .order_by("outbox_id")
            .values_list("outbox_id", flat=True)
        )
        == event_ids[3:]
    )
    assert len(unread_ids(other_agent)) == 5


@pytest.mark.django_db
def test_mark_all_read_marks_every_row_of_the_user_only(agent, other_agent):
    notify(agent, other_agent, count=4)

    response = api_client(agent).post(MARK_READ, {"all": True}, format="json")

    assert response.json() == {"marked": 4, "unread": 0}
    assert unread_ids(agent) == []
    assert len(unread_ids(other_agent)) == 4
    listed = api_client(agent).get(INBOX).json()["results"]
    assert all(row["read"] and row["read_at"] for row in listed)


@pytest.mark.django_db
def test_marking_read_rows_again_keeps_when_they_were_first_read(agent):
    notify(agent, count=2)
    client = api_client(agent)
    client.post(MARK_READ, {"all": True}, format="json")
    first_read = dict(Notification.objects.filter(user=agent).values_list("pk", "read_at"))

    response = client.post(MARK_READ, {"ids": list(first_read)}, format="json")

    assert response.json() == {"marked": 0, "unread": 0}
    assert dict(Notification.objects.filter(user=agent).values_list("pk", "read_at")) == first_read


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="none"),
        pytest.param({"all": False}, id="all-false-alone"),
        pytest.param({"ids": [1], "all": True}, id="ids-and-all"),
        pytest.param({"ids": [1], "up_to_event_id": 5}, id="ids-and-up-to"),
        pytest.param({"up_to_event_id": 5, "all": True}, id="up-to-and-all"),
    ],
)
def test_mark_read_needs_exactly_one_way_of_choosing_rows(agent, body):
    notify(agent, count=2)

    response = api_client(agent).post(MARK_READ, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_failed"
    assert "exactly one of" in response.json()["message"]
    assert len(unread_ids(agent)) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"ids": ["one"]}, "ids", id="ids-not-integers"),
        pytest.param({"ids": [0]}, "ids", id="ids-not-positive"),
        pytest.param({"ids": list(range(1, MARK_READ_MAX_IDS + 2))}, "ids", id="too-many-ids"),
        pytest.param({"up_to_event_id": "latest"}, "up_to_event_id", id="up-to-not-integer"),
        pytest.param({"all": True, "everything": True}, "everything", id="unknown-field"),
    ],
)
def test_mark_read_refuses_malformed_bodies(agent, body, field):
    notify(agent)

    response = api_client(agent).post(MARK_READ, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert len(unread_ids(agent)) == 1


# -- preferences ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_preferences_start_from_the_defaults(agent):
    response = api_client(agent).get(PREFERENCES)

    assert response.status_code == 200
    assert response.json() == {
        "by_kind": {},
        "muted_events": [],
        "via_websocket": True,
        "via_email": False,
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "time_zone": "UTC",
        "email_digest": "none",
    }


@pytest.mark.django_db
def test_patching_preferences_changes_only_what_was_sent_and_is_kept(agent, other_agent):
    client = api_client(agent)

    response = client.patch(
        PREFERENCES,
        {
            "muted_events": ["complaint.note_added"],
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
            "time_zone": "Europe/London",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    client.patch(PREFERENCES, {"email_digest": "daily"}, format="json")

    assert client.get(PREFERENCES).json() == {
        "by_kind": {},
        "muted_events": ["complaint.note_added"],
        "via_websocket": True,
        "via_email": False,
        "quiet_hours_start": "22:00:00",
        "quiet_hours_end": "07:00:00",
        "time_zone": "Europe/London",
        "email_digest": "daily",
    }
    assert not NotificationPreference.objects.filter(user=other_agent).exists()


@pytest.mark.django_db
def test_a_muted_event_type_no_longer_reaches_the_inbox(agent):
    api_client(agent).patch(PREFERENCES, {"muted_events": ["complaint.note_added"]}, format="json")

    notify(agent, event_type="complaint.note_added")
    notify(agent, event_type="complaint.message_added")

    listed = api_client(agent).get(INBOX).json()["results"]
    assert [row["event_type"] for row in listed] == ["complaint.message_added"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"time_zone": "Mars/Olympus_Mons"}, "time_zone", id="bad-time-zone"),
        pytest.param({"email_digest": "weekly"}, "email_digest", id="bad-digest"),
        pytest.param({"sound": "chime"}, "sound", id="unknown-field"),
        pytest.param({"quiet_hours_start": "22:00"}, "quiet_hours_end", id="start-only"),
        pytest.param({"quiet_hours_end": "07:00"}, "quiet_hours_end", id="end-only"),
        pytest.param({"quiet_hours_start": "25:00"}, "quiet_hours_start", id="bad-time"),
        pytest.param({"muted_events": "complaint.note_added"}, "muted_events", id="not-a-list"),
        pytest.param({"muted_events": ["complaint.exploded"]}, "muted_events", id="unknown-type"),
        pytest.param({"muted_events": ["note_added"]}, "muted_events", id="unprefixed-type"),
        pytest.param(
            {"quiet_hours_start": "07:00", "quiet_hours_end": "07:00"},
            "quiet_hours_end",
            id="empty-window",
        ),
    ],
)
def test_bad_preferences_are_refused_and_nothing_changes(agent, body, field):
    client = api_client(agent)
    before = client.get(PREFERENCES).json()

    response = client.patch(PREFERENCES, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert client.get(PREFERENCES).json() == before


@pytest.mark.django_db
def test_clearing_one_end_of_set_quiet_hours_is_refused_and_clearing_both_is_allowed(agent):
    client = api_client(agent)
    client.patch(
        PREFERENCES, {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"}, format="json"
    )

    half = client.patch(PREFERENCES, {"quiet_hours_end": None}, format="json")
    both = client.patch(
        PREFERENCES, {"quiet_hours_start": None, "quiet_hours_end": None}, format="json"
    )

    assert half.status_code == 400
    assert "quiet_hours_end" in half.json()["details"]
    assert both.status_code == 200
    assert both.json()["quiet_hours_start"] is None
    assert both.json()["quiet_hours_end"] is None


@pytest.mark.django_db
def test_preferences_must_be_a_json_object(agent):
    response = api_client(agent).patch(PREFERENCES, ["via_email"], format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_failed"


@pytest.mark.django_db
def test_unknown_muted_event_types_are_named_in_the_error(agent):
    response = api_client(agent).patch(
        PREFERENCES,
        {"muted_events": ["complaint.note_added", "complaint.exploded", "bell"]},
        format="json",
    )

    assert response.status_code == 400
    (message,) = response.json()["details"]["muted_events"]
    assert message.startswith("Unknown event types: bell, complaint.exploded. Known types: ")
    assert "complaint.clock_breached" in message
    assert not NotificationPreference.objects.filter(user=agent).exclude(muted_events=[]).exists()


@pytest.mark.django_db
def test_every_event_type_of_the_catalogue_can_be_muted_once(agent):
    catalogue = [
        "complaint.received",
        "complaint.acknowledged",
        "complaint.resolved",
        "complaint.loop_closed",
        "complaint.reopened",
        "complaint.withdrawn",
        "complaint.message_added",
        "complaint.note_added",
        "complaint.assigned",
        "complaint.awaiting_customer",
        "complaint.awaiting_ended",
        "complaint.clock_warning",
        "complaint.clock_breached",
        "complaint.escalated",
        "complaint.de_escalated",
        "complaint.escalation_requested",
    ]
    response = api_client(agent).patch(
        PREFERENCES, {"muted_events": [*catalogue, "complaint.note_added"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    # Said twice, kept once, in the order given.
    assert response.json()["muted_events"] == catalogue


@pytest.mark.parametrize("flag", ["null", "maybe", ""])
def test_an_unread_filter_that_is_not_a_boolean_is_refused(agent, flag):
    answer = api_client(agent).get(INBOX, {"unread": flag})

    assert answer.status_code == 400
    assert answer.json()["error"] == "validation_failed"
    assert "unread" in answer.json()["details"]
