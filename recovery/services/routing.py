"""Which team a new complaint goes to: the caller's choice, a routing rule, or triage.

``route`` is called by intake inside its transaction, before the complaint is written, so
the complaint is created in its team's queue and the ``received`` event reaches that team.
In order:
1. a team the (staff) caller named is kept;
2. else the first active rule, by position, whose every list matches;
3. else the category's default team;
4. else the triage team, created ("Triage") if no team is flagged as it, so that no complaint
   is left in no one's queue.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation import configuration
from recovery import events, rules
from recovery.models import Complaint, EventType, RoutingRule, Team
from recovery.models.routing import MATCH_FIELDS

TRIAGE_NAME = "Triage"
TRIAGE_SLUG = "triage"


class How:
    """How a team was chosen; stored in the ``routed`` event's parameters."""

    CALLER = "caller"
    RULE = "rule"
    CATEGORY = "category"
    DEFAULT = "default"
    # Moved by a supervisor after intake (``complaint_move_team``).
    MOVED = "moved"


@dataclass(frozen=True)
class Facts:
    """What rules match on, read from the complaint before it is written."""

    channel: str
    category: str  # slug, "" for none
    product: str
    text: str  # subject and description
    regulatory_profile: str
    segment: str


@dataclass(frozen=True)
class Route:
    team: Team
    how: str
    rule: RoutingRule | None = None

    def parameters(self) -> dict:
        return {
            "team_id": self.team.pk,
            "team": self.team.name,
            "by": self.how,
            "rule_id": self.rule.pk if self.rule else None,
            "rule_name": self.rule.name if self.rule else "",
        }


def active_rules() -> list[RoutingRule]:
    """The rules intake tries, in order; read once per process until a rule or team changes
    (``escalation.configuration``)."""
    return configuration.cached(
        "routing-rules",
        lambda: list(
            RoutingRule.objects.filter(is_active=True)
            .select_related("team")
            .order_by("position", "id")
        ),
    )


def route(
    *,
    facts: Facts,
    team: Team | None = None,
    category_team: Team | None = None,
    rules: list[RoutingRule] | None = None,
    triage: Team | None = None,
) -> Route:
    """The team for a new complaint (steps in the module docstring).

    ``team`` is the caller's choice, ``category_team`` the category's default team; an
    import passes ``rules`` and ``triage`` read once for a batch.
    """
    if team is not None:
        return Route(team, How.CALLER)
    rules = active_rules() if rules is None else rules
    rule = next((rule for rule in rules if matches(rule, facts)), None)
    if rule is not None:
        return Route(rule.team, How.RULE, rule)
    if category_team is not None:
        return Route(category_team, How.CATEGORY)
    return Route(triage or triage_team(), How.DEFAULT)


def matches(rule: RoutingRule, facts: Facts) -> bool:
    return all(_list_matches(name, getattr(rule, name), facts) for name in MATCH_FIELDS)


def _list_matches(name: str, listed, facts: Facts) -> bool:
    if not listed:
        return True
    if not isinstance(listed, list):
        return False  # malformed (saved around the admin's validation): matches nothing
    if name == "channels":
        return facts.channel in listed
    if name == "categories":
        return facts.category in listed
    if name == "regulatory_profiles":
        return facts.regulatory_profile in listed
    if name == "products":
        return facts.product.strip().casefold() in {item.strip().casefold() for item in listed}
    if name == "segments":
        # A segment may hold several, comma-separated (imports give "Older American,
        # Servicemember"): any of them listed matches.
        parts = {part.strip().casefold() for part in facts.segment.split(",") if part.strip()}
        return bool(parts & {item.strip().casefold() for item in listed})
    if name == "keywords":
        return _keyword_pattern(tuple(listed)).search(facts.text) is not None
    return False


@lru_cache(maxsize=256)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern:
    """Any keyword as a whole word or phrase, in any case: "refund" finds "Refund!" but not
    "refunded". Word edges are lookarounds rather than ``\\b`` so that a keyword ending in a
    sign ("C++") still has one; spaces in a phrase match any run of white space."""
    words = [
        r"\s+".join(re.escape(part) for part in keyword.split())
        for keyword in keywords
        if keyword.strip()
    ]
    return re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", re.IGNORECASE)


def triage_team() -> Team:
    """The flagged triage team; if none is (deleted, or never flagged), "Triage" becomes it.

    Two intakes making it at once: the second's insert fails on the one-triage-team
    constraint inside its savepoint, and it reads the first's.
    """
    team = configuration.cached("triage-team", lambda: Team.objects.filter(is_triage=True).first())
    if team is not None:
        return team
    try:
        with transaction.atomic():
            team = Team.objects.filter(Q(slug=TRIAGE_SLUG) | Q(name=TRIAGE_NAME)).first()
            if team is not None:
                team.is_triage = True
                team.save(update_fields=["is_triage"])
                return team
            return Team.objects.create(name=TRIAGE_NAME, slug=TRIAGE_SLUG, is_triage=True)
    except IntegrityError:
        return Team.objects.get(is_triage=True)


def may_move_team(complaint: Complaint, user) -> bool:
    """Moving a complaint to another team's queue is handing it out, as assigning is: a
    supervisor's call (``recovery.assign_complaint``), on a complaint they work."""
    return user.has_perm("recovery.assign_complaint") and rules.works_on(complaint, user)


def complaint_move_team(*, complaint: Complaint, team: Team, actor, reason: str = "") -> Complaint:
    """Move an open complaint to ``team``'s queue.

    1. check the actor may hand it out, before anything is read under lock;
    2. lock the row; refuse a complaint no longer open (409) or already in that team (400);
    3. save the team and write a ``routed`` event (``by: moved``, the team it left and why),
       whose outbox row tells the new team; in one transaction.

    The assignee stays: moving the queue is not taking the work from someone (a supervisor
    reassigns separately if it should change hands). Clocks do not depend on the team.
    """
    if not may_move_team(complaint, actor):
        raise PermissionDenied(f"You may not move {complaint.reference} to another team.")
    with transaction.atomic():
        # The team is read after the lock, not joined: a joined row would be the one from
        # before the wait (PostgreSQL re-reads only the locked row).
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; only open complaints move team.",
                details={"state": locked.state},
            )
        if locked.team_id == team.pk:
            raise ValidationFailed(
                f"{locked.reference} is already in the {team.name} team's queue.",
                details={"team": [f"Choose another team than {team.name}."]},
            )
        previous = locked.team
        locked.team = team
        locked.save(update_fields=["team", "updated_at"])
        events.record(
            locked,
            EventType.ROUTED,
            actor,
            {
                "team_id": team.pk,
                "team": team.name,
                "by": How.MOVED,
                "rule_id": None,
                "rule_name": "",
                "previous_team_id": previous.pk if previous else None,
                "previous_team": previous.name if previous else "",
                "reason": reason.strip(),
            },
        )
    complaint.team = team
    return locked


def describe(parameters: dict) -> str:
    """The timeline's sentence for a ``routed`` event."""
    team = parameters.get("team", "")
    how = parameters.get("by")
    if how == How.MOVED:
        previous = parameters.get("previous_team") or _("no team")
        sentence = _("Moved from %(previous)s to %(team)s") % {"previous": previous, "team": team}
        reason = parameters.get("reason")
        return f"{sentence}: {reason}" if reason else sentence
    if how == How.RULE:
        return _("Routed to %(team)s by rule '%(rule)s'") % {
            "team": team,
            "rule": parameters.get("rule_name", ""),
        }
    if how == How.CATEGORY:
        return _("Routed to %(team)s by its category") % {"team": team}
    if how == How.CALLER:
        return _("Routed to %(team)s as submitted") % {"team": team}
    return _("Routed to %(team)s by default") % {"team": team}
