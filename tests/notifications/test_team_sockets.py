"""Team pushes on real sockets: one push per team group, and each socket gets only its own.

Same set-up as test_sockets.py (the real ASGI application, channels-redis under a prefix of
the test's own, deliveries made by calling ``deliver``). Personas (tests/conftest.py):
``agent`` and ``supervisor`` work ``team`` (Billing); ``other_agent`` works ``other_team``.
"""

import pytest

from notifications import consumers
from notifications.models import Notification, NotificationPreference
from recovery.services import sla
from tests.conftest import acknowledge
from tests.notifications.test_sockets import RECEIVE_TIMEOUT_S as TIMEOUT
from tests.notifications.test_sockets import (
    add_note,
    assert_quiet,
    connect_staff,
    deliver_pending,
    in_sync,
    isolated_channel_layer,  # noqa: F401 (autouse fixture)
    no_fast_path,  # noqa: F401 (autouse fixture)
    receive,
    receive_events,
    run,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_who_left_the_team_gets_none_of_its_events_on_a_socket_opened_before(
    agent, supervisor, team, make_complaint
):
    complaint = make_complaint()
    deliver_pending()

    async def scenario():
        agent_socket = await connect_staff(agent)
        supervisor_socket = await connect_staff(supervisor)
        # Still listening on the team's group: only the push's recipients keep it out.
        await in_sync(team.members.remove)(agent)

        await add_note(complaint, supervisor, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(supervisor_socket, 1)
        assert event["type"] == "complaint.note_added"
        await assert_quiet(agent_socket)

        await agent_socket.disconnect(timeout=TIMEOUT)
        await supervisor_socket.disconnect(timeout=TIMEOUT)

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
        (their_copy,) = await receive_events(other_socket, 1)
        assert mine["id"] == their_copy["id"]
        assert mine["complaint"] == theirs.reference

        await agent_socket.disconnect(timeout=TIMEOUT)
        await other_socket.disconnect(timeout=TIMEOUT)

    run(scenario)


def test_muted_and_socket_off_members_are_left_out_of_the_team_push(
    agent, supervisor, other_agent, team, make_complaint
):
    complaint = make_complaint()
    deliver_pending()
    NotificationPreference.objects.create(user=supervisor, muted_events=["complaint.note_added"])
    team.members.add(other_agent)
    NotificationPreference.objects.create(user=other_agent, via_websocket=False)

    async def scenario():
        sockets = {user: await connect_staff(user) for user in (agent, supervisor, other_agent)}

        await add_note(complaint, agent, "Called the bank.")
        await in_sync(deliver_pending)()
        (event,) = await receive_events(sockets[agent], 1)
        assert event["type"] == "complaint.note_added"
        # Sentinel: the acknowledgement reaches the supervisor next, so no note came first.
        await in_sync(acknowledge)(complaint, agent)
        await in_sync(deliver_pending)()
        (sentinel,) = await receive_events(sockets[supervisor], 1)
        assert sentinel["type"] == "complaint.acknowledged"
        await assert_quiet(sockets[other_agent])

        for socket in sockets.values():
            await socket.disconnect(timeout=TIMEOUT)

    run(scenario)
    # Socket off is not muted: the inbox still has it.
    assert Notification.objects.filter(user=other_agent, event_type="complaint.note_added").exists()


def test_an_event_reaches_a_recipient_with_the_complaint_open_once_and_a_viewer_once(
    agent, supervisor, manager, make_complaint
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

        await add_note(complaint, supervisor, "Looked into it.")
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
