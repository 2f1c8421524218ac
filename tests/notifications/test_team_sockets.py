"""Team pushes on real sockets: one push per team group, and each socket gets only its own.

Same set-up as test_sockets.py (the real ASGI application, channels-redis under a prefix of
the test's own, deliveries made by calling ``deliver``). Personas (tests/conftest.py):
``agent`` and ``colleague`` work ``team`` (Billing); ``other_agent`` works ``other_team``.
"""

import pytest

from notifications import consumers
from notifications.models import Notification, NotificationPreference
from recovery.services import sla
from tests.conftest import acknowledge, api_client
from tests.notifications.test_sockets import RECEIVE_TIMEOUT_S as TIMEOUT
from tests.notifications.test_sockets import (
    add_note,
    assert_quiet,
    connect_staff,
    deliver_pending,
    in_sync,
    isolated_channel_layer,  # noqa: F401 (autouse fixture)
    no_fast_path,  # noqa: F401 (autouse fixture)
    outbox_id_of,
    receive,
    receive_events,
    run,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_who_left_the_team_gets_none_of_its_events_on_a_socket_opened_before(
    agent, colleague, teammate, team, make_complaint
):
    complaint = make_complaint()
    deliver_pending()

    async def scenario():
        agent_socket = await connect_staff(agent)
        colleague_socket = await connect_staff(colleague)
        # Still listening on the team's group: only the push's recipients keep it out.
        await in_sync(team.members.remove)(agent)

        await add_note(complaint, teammate, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(colleague_socket, 1)
        assert event["type"] == "complaint.note_added"
        await assert_quiet(agent_socket)

        await agent_socket.disconnect(timeout=TIMEOUT)
        await colleague_socket.disconnect(timeout=TIMEOUT)

    run(scenario)
    assert not Notification.objects.filter(user=agent, event_type="complaint.note_added").exists()


def test_joining_a_team_starts_its_pushes_at_the_next_heartbeat(
    agent, other_agent, other_team, make_complaint, monkeypatch
):
    monkeypatch.setattr(consumers, "TEAMS_REFRESH_S", 0)
    theirs = make_complaint(routed_to=other_team)
    deliver_pending()

    async def scenario():
        agent_socket = await connect_staff(agent)
        other_socket = await connect_staff(other_agent)
        await in_sync(other_team.members.add)(agent)
        await agent_socket.send_json_to({"type": "heartbeat"})
        assert await receive(agent_socket) == {"type": "heartbeat"}

        await add_note(theirs, other_agent, "Parcel found.")
        await in_sync(deliver_pending)()
        (mine,) = await receive_events(agent_socket, 1)
        assert mine["id"] == await in_sync(outbox_id_of)(theirs, "complaint.note_added")
        assert mine["complaint"] == theirs.reference
        # The author of the note is not told of it.
        await assert_quiet(other_socket)

        await agent_socket.disconnect(timeout=TIMEOUT)
        await other_socket.disconnect(timeout=TIMEOUT)

    run(scenario)


def test_muted_and_socket_off_members_are_left_out_of_the_team_push(
    agent, colleague, other_agent, team, make_complaint, teammate
):
    complaint = make_complaint()
    deliver_pending()
    NotificationPreference.objects.create(user=colleague, muted_events=["complaint.note_added"])
    team.members.add(other_agent)
    NotificationPreference.objects.create(user=other_agent, via_websocket=False)

    async def scenario():
        sockets = {user: await connect_staff(user) for user in (agent, colleague, other_agent)}

        await add_note(complaint, teammate, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(sockets[agent], 1)
        assert event["type"] == "complaint.note_added"
        # Sentinel: the acknowledgement reaches the colleague next, so no note came first.
        await in_sync(acknowledge)(complaint, teammate)
        await in_sync(deliver_pending)()
        (sentinel,) = await receive_events(sockets[colleague], 1)
        assert sentinel["type"] == "complaint.acknowledged"
        await assert_quiet(sockets[other_agent])

        for socket in sockets.values():
            await socket.disconnect(timeout=TIMEOUT)

    run(scenario)
    # Socket off is not muted: the inbox still has it.
    assert Notification.objects.filter(user=other_agent, event_type="complaint.note_added").exists()


def test_an_event_reaches_a_recipient_with_the_complaint_open_once_and_a_viewer_once(
    agent, colleague, manager, make_complaint
):
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    deliver_pending()

    async def scenario():
        agent_socket = await connect_staff(agent)
        # A manager sees every complaint but is on no team.
        viewer_socket = await connect_staff(manager)
        opened = {"type": "open", "complaint": complaint.reference}
        await agent_socket.send_json_to(opened)
        assert len((await receive(agent_socket))["people"]) == 1
        await viewer_socket.send_json_to(opened)
        # Both are told the complaint now has two people on it.
        assert len((await receive(agent_socket))["people"]) == 2
        assert len((await receive(viewer_socket))["people"]) == 2

        await add_note(complaint, colleague, "Looked into it.")
        await in_sync(deliver_pending)()
        # Team member and assignee: through the team group; not again through the complaint's.
        (own,) = await receive_events(agent_socket, 1)
        # Someone outside the team watching the complaint: through the complaint's group only.
        (watched,) = await receive_events(viewer_socket, 1)
        assert own["id"] == watched["id"]
        await assert_quiet(agent_socket)
        await assert_quiet(viewer_socket)

        await agent_socket.disconnect(timeout=TIMEOUT)
        await viewer_socket.disconnect(timeout=TIMEOUT)

    run(scenario)


def test_the_author_of_an_event_is_not_pushed_it_on_any_of_their_sockets(
    agent, colleague, make_complaint
):
    complaint = make_complaint()
    # Assignee and team member: rung through the team's group or their own, it is the same.
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    deliver_pending()

    async def scenario():
        tabs = [await connect_staff(agent), await connect_staff(agent)]
        colleague_socket = await connect_staff(colleague)

        await add_note(complaint, agent, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(colleague_socket, 1)
        assert event["id"] == await in_sync(outbox_id_of)(complaint, "complaint.note_added")
        for tab in tabs:
            await assert_quiet(tab)

        for socket in [*tabs, colleague_socket]:
            await socket.disconnect(timeout=TIMEOUT)

    run(scenario)
    assert not Notification.objects.filter(user=agent, event_type="complaint.note_added").exists()


def test_a_kind_chosen_silent_is_not_pushed_and_one_chosen_in_app_is_despite_pushes_off(
    agent, colleague, teammate, make_complaint
):
    complaint = make_complaint()
    deliver_pending()
    # The agent silenced notes ("other"); the colleague turned live pushes off in general but
    # wants "other" in the app.
    NotificationPreference.objects.create(user=agent, by_kind={"other": "silent"})
    NotificationPreference.objects.create(
        user=colleague, via_websocket=False, by_kind={"other": "in_app"}
    )

    async def scenario():
        agent_socket = await connect_staff(agent)
        colleague_socket = await connect_staff(colleague)

        await add_note(complaint, teammate, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(colleague_socket, 1)
        assert event["type"] == "complaint.note_added"
        await assert_quiet(agent_socket)

        await agent_socket.disconnect(timeout=TIMEOUT)
        await colleague_socket.disconnect(timeout=TIMEOUT)

    run(scenario)
    assert not Notification.objects.filter(user=agent, event_type="complaint.note_added").exists()


def test_reading_in_one_place_updates_the_unread_count_on_every_open_tab(
    agent, teammate, make_complaint
):
    complaint = make_complaint()
    deliver_pending()

    async def scenario():
        tabs = [await connect_staff(agent), await connect_staff(agent)]
        teammate_socket = await connect_staff(teammate)
        await add_note(complaint, teammate, "Called the bank.")
        await add_note(complaint, teammate, "Bank called back.")
        await in_sync(deliver_pending)()
        for tab in tabs:
            assert len(await receive_events(tab, 2)) == 2

        # One read from the desk's link (or an email's): every tab's bell says one left.
        first = await in_sync(
            lambda: Notification.objects.filter(user=agent).order_by("id").first()
        )()
        client = await in_sync(api_client)(agent)
        await in_sync(client.force_login)(agent)
        await in_sync(client.get)(f"/desk/notifications/{first.pk}/")
        for tab in tabs:
            assert await receive(tab) == {"type": "unread", "unread": 1}
        # "Mark all read" through the API: none left, everywhere.
        answer = await in_sync(client.post)(
            "/api/notifications/mark-read/", {"all": True}, format="json"
        )
        assert answer.status_code == 200
        for tab in tabs:
            assert await receive(tab) == {"type": "unread", "unread": 0}
        # Only the reader's own sockets are told.
        await assert_quiet(teammate_socket)

        for socket in [*tabs, teammate_socket]:
            await socket.disconnect(timeout=TIMEOUT)

    run(scenario)
