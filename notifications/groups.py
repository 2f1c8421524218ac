"""Channel-layer group names and the pushes an event makes.

An event is pushed once per group, not once per person: a team event goes to the team's group
with the list of members it is for (``to``), and each server process's fanout
(``notifications.fanout``) hands it only to the sockets of those members. Channels-redis
writes one message per server process for a whole group, so ringing a team of 500 costs one
Redis call instead of 500.

Names allow only ASCII letters, digits, hyphens, underscores and periods (Channels' rule).
"""

import json
from bisect import bisect_left

from notifications.models import Outbox

PUSH_TYPE = "event.push"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


TEAM_GROUP_PREFIX = "team."


def team_group(team_id: int) -> str:
    return f"{TEAM_GROUP_PREFIX}{team_id}"


def is_team_group(group: str) -> bool:
    return group.startswith(TEAM_GROUP_PREFIX)


# The supervisors' boards (and approvals queues) open now: rung by every complaint event,
# with no content, so that a board another supervisor changed is fetched again.
BOARD_GROUP = "board"
BOARD_PUSH_TYPE = "board.changed"


def complaint_group(complaint_id: int) -> str:
    return f"complaint.{complaint_id}"


def tracking_group(complaint_id: int) -> str:
    return f"track.{complaint_id}"


def staff_groups(user_id: int, team_ids) -> list[str]:
    """The groups a member of staff's socket listens on: their own and their teams'."""
    return [user_group(user_id), *(team_group(team_id) for team_id in sorted(team_ids))]


def event_message(row: Outbox) -> dict:
    """The versioned JSON every socket client receives; ``id`` is the outbox id."""
    return {
        "v": 1,
        "id": row.pk,
        "type": row.event_type,
        "complaint": row.payload.get("reference"),
        "state": row.payload.get("state"),
        "created_at": row.created_at.isoformat(),
        "parameters": row.payload.get("parameters") or {},
    }


def customer_message(row: Outbox) -> dict:
    """What a customer's tracking page may see: no internal parameters."""
    return {
        "v": 1,
        "id": row.pk,
        "type": row.event_type,
        "complaint": row.payload.get("reference"),
        "state": row.payload.get("state"),
        "created_at": row.created_at.isoformat(),
    }


def pushes_for(
    row: Outbox, *, by_team: dict[int, list[int]], direct: list[int]
) -> list[tuple[str, dict]]:
    """The group messages that ring an event's sockets.

    ``by_team`` maps each audience team to the members the event is pushed to through that
    team's group (each person under one team only, so nobody gets it twice); ``direct`` are
    the other people it is pushed to, through their own groups. Whoever has the complaint open
    gets it through the complaint's group, unless they were pushed it already (``skip``).
    """
    staff = push_message(event_message(row))
    pushes = []
    pushed: list[int] = []
    for team_id, user_ids in by_team.items():
        if user_ids:
            to = sorted(user_ids)
            group = team_group(team_id)
            # The group's name tells each server process's fanout which sockets it is for.
            pushes.append((group, {**staff, "group": group, "to": to}))
            pushed += to
    for user_id in direct:
        pushes.append((user_group(user_id), staff))
        pushed.append(user_id)
    if row.complaint_id:
        pushes.append((complaint_group(row.complaint_id), {**staff, "skip": sorted(pushed)}))
        if row.audience.get("customer") is not None:
            pushes.append((tracking_group(row.complaint_id), push_message(customer_message(row))))
        pushes.append((BOARD_GROUP, board_message(row.pk)))
    return pushes


def board_message(outbox_id: int) -> dict:
    """The boards' doorbell: something on a complaint changed, as of this outbox id.

    It says nothing of the complaint: every board reads what it may show when it fetches
    itself again, and one that missed the ring is told on its next ``board`` message
    (``replay.latest_complaint_event``).
    """
    return {
        "type": BOARD_PUSH_TYPE,
        "text": json.dumps({"type": "board", "id": outbox_id}),
    }


def push_message(event: dict) -> dict:
    """A channel-layer push: the event, and the socket frame ready to send (``text``).

    The frame is encoded once here rather than by each of the hundreds of sockets a team
    push reaches.
    """
    return {
        "type": PUSH_TYPE,
        "event": event,
        "text": json.dumps({"type": "event", "event": event}),
    }


def addressed_to(message: dict, user_id: int) -> bool:
    """Whether a staff push is for this user's socket (``to`` and ``skip`` are sorted)."""
    to = message.get("to")
    if to is not None and not _contains(to, user_id):
        return False
    skip = message.get("skip")
    return not (skip and _contains(skip, user_id))


def _contains(sorted_ids: list[int], user_id: int) -> bool:
    # A team's push names every member (``to``), and a complaint's push everyone pushed it
    # already (``skip``), and each socket they reach checks: a binary search keeps that
    # O(log n) per socket instead of a scan of the whole list.
    index = bisect_left(sorted_ids, user_id)
    return index < len(sorted_ids) and sorted_ids[index] == user_id
