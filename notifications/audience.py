"""Who an outbox event is for: its audience resolved to people, and how each wants it.

An audience is ``{"teams": [...], "users": [...], "customer": id | null}``, and optionally
``"team_except_group"``: a group (supervisors) whose members are told as named users only,
not as team members. Staff recipients are the named users plus the active members of the
named teams, less the person whose action
caused the event (they know what they did) and those who chose to hear nothing of its kind
(``notifications.kinds``) or muted the event type. Everything is read in a fixed number of
queries, whatever the team's size.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from notifications.kinds import Telling, kind_of
from notifications.models import EmailDigest, NotificationPreference


@dataclass(frozen=True)
class Recipients:
    """An event's staff recipients and how each is told."""

    # Everyone who gets an inbox row, ascending.
    user_ids: list[int] = field(default_factory=list)
    # Member → the audience team whose group their socket is rung through (the first team
    # of the audience they are on); recipients not here are rung through their own group.
    team_of: dict[int, int] = field(default_factory=dict)
    # Recipients who turned live pushes off.
    socket_off: frozenset[int] = frozenset()
    # Recipients who want email, with their preferences (digest, quiet hours, time zone).
    email: dict[int, NotificationPreference] = field(default_factory=dict)
    # The digest each of them wants this event in (their choice for its kind, or in general).
    digest: dict[int, str] = field(default_factory=dict)

    def pushes(self) -> tuple[dict[int, list[int]], list[int]]:
        """(team id → members rung through its group, people rung through their own)."""
        by_team: dict[int, list[int]] = {}
        direct = []
        for user_id in self.user_ids:
            if user_id in self.socket_off:
                continue
            team_id = self.team_of.get(user_id)
            if team_id is None:
                direct.append(user_id)
            else:
                by_team.setdefault(team_id, []).append(user_id)
        return by_team, direct


def _memberships():
    return get_user_model().teams.through.objects


def recipients_of(audience: dict, event_type: str, *, actor_id: int | None = None) -> Recipients:
    """Resolve an audience (three queries; a fourth only if someone wants email).

    ``actor_id`` is left out whichever way they were named (assignee, owner, team member):
    the inbox, the push and the email all come from this one list.
    """
    ids = set(audience.get("users") or [])
    teams = audience.get("teams") or []
    team_of: dict[int, int] = {}
    if teams:
        members = _memberships().filter(team_id__in=teams, user__is_active=True)
        order = {team_id: position for position, team_id in enumerate(teams)}
        if audience.get("team_except_group"):
            # Routine team events pass over the team's supervisors (recovery.events says
            # which group); named recipients are told whatever their group.
            members = members.exclude(user__groups__name=audience["team_except_group"])
        for team_id, user_id in sorted(
            members.values_list("team_id", "user_id"), key=lambda pair: order[pair[0]]
        ):
            team_of.setdefault(user_id, team_id)
        ids |= set(team_of)
    ids.discard(actor_id)
    if not ids:
        return Recipients()
    preferences = {
        preference.user_id: preference
        for preference in NotificationPreference.objects.filter(user_id__in=ids)
    }
    kind = kind_of(event_type)
    socket_off: set[int] = set()
    digest: dict[int, str] = {}
    for user_id, preference in preferences.items():
        if user_id not in ids:
            continue
        telling = (preference.by_kind or {}).get(kind)
        if telling == Telling.SILENT or (
            telling is None and event_type in (preference.muted_events or [])
        ):
            ids.discard(user_id)
        elif telling == Telling.EMAIL:
            digest[user_id] = EmailDigest.NONE
        elif telling == Telling.DAILY_DIGEST:
            digest[user_id] = EmailDigest.DAILY
        elif telling is None:
            # No choice for this kind: the general switches.
            if not preference.via_websocket:
                socket_off.add(user_id)
            if preference.via_email:
                digest[user_id] = preference.email_digest
    wants_email = sorted(digest)
    if wants_email:
        # An inactive account or one without an address cannot be emailed.
        reachable = set(
            get_user_model()
            .objects.filter(pk__in=wants_email, is_active=True)
            .exclude(email="")
            .values_list("pk", flat=True)
        )
        wants_email = [user_id for user_id in wants_email if user_id in reachable]
    return Recipients(
        user_ids=sorted(ids),
        team_of={user_id: team_id for user_id, team_id in team_of.items() if user_id in ids},
        socket_off=frozenset(socket_off),
        email={user_id: preferences[user_id] for user_id in wants_email},
        digest={user_id: digest[user_id] for user_id in wants_email},
    )


def teams_of(user_id: int) -> list[int]:
    """The teams a member of staff is on: the team groups their socket listens to."""
    return sorted(_memberships().filter(user_id=user_id).values_list("team_id", flat=True))
