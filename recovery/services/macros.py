"""Macros: saving them (supervisors), choosing them (the complaint's page) and using them.

Using a macro is doing by hand what it says, through the same services: its text is an
acknowledgement (``lifecycle.complaint_acknowledge``) while the complaint is received, a
reply (``messages.message_add``) after; its hold goes through
``sla.complaint_set_awaiting_customer``, its category through
``categories.complaint_recategorise``. Every rule and timeline event of those holds. Its
root cause is only suggested (causes are recorded when resolving): a timeline event the
resolve form reads to offer it.

The text is filled by plain substitution of a fixed set of placeholders, never by a
template engine, so a macro can reach nothing but the four values below.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from escalation import configuration
from escalation.models import Clock
from recovery import events
from recovery.models import Complaint, Macro, MacroVisibility, State
from recovery.services import categories, lifecycle, sla
from recovery.services import messages as message_services

# Who manages macros: the supervisor's permission (the board's, recovery.roles).
MANAGE_PERMISSION = "recovery.work_any_complaint"
# As a reply typed on the complaint's page: a letter, not a file.
BODY_MAX = 5000
PLACEHOLDERS = ("customer_name", "reference", "resolve_by", "agent_name")
# ``{word}``: a placeholder; other braces are the customer's to read as written.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# How a letter opens. Every customer email's template greets the customer already ("Dear
# {{ customer.name }},", notifications' shipped templates), above the macro's text: a macro
# that opens so greets them twice ("Dear Ann, Hello Ann, …").
# A greeting is a word of address first, then on its line the customer's name or a comma
# ("Hello {customer_name}", "Dear Ann,", "Hi there!"); "Hi" alone is no letter's opening.
_GREETING = re.compile(
    r"^\W*(?:dear|hello|hi|hey|hiya|greetings|good\s+(?:morning|afternoon|evening))\b"
    r"(?:[^\n]*\{customer_name\}|[^\n.?]{0,40}[,!:])",
    re.IGNORECASE,
)


def opens_with_greeting(text: str) -> bool:
    """Whether ``text`` begins by greeting its reader ("Hello {customer_name}, …").

    The desk's macro editor refuses such a text; a macro saved otherwise is not checked."""
    return bool(_GREETING.match(text or ""))


def unknown_placeholders(text: str) -> list[str]:
    """The ``{names}`` in ``text`` that are not placeholders, in order, once each."""
    unknown: list[str] = []
    for name in _PLACEHOLDER.findall(text or ""):
        if name not in PLACEHOLDERS and name not in unknown:
            unknown.append(name)
    return unknown


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each placeholder replaced by its value; anything else left as it is."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def values_for(complaint: Complaint, agent, resolve_by: datetime | None) -> dict[str, str]:
    """What the placeholders stand for on ``complaint``; ``resolve_by``: the earliest
    resolve deadline (the page has it from its clocks, ``resolve_deadline`` reads it)."""
    when = (
        _("by %(date)s") % {"date": timezone.localtime(resolve_by).strftime("%-d %B %Y")}
        if resolve_by
        else _("as soon as we can")
    )
    return {
        "customer_name": complaint.customer.name,
        "reference": complaint.reference,
        "resolve_by": when,
        "agent_name": agent.get_full_name() or agent.get_username(),
    }


def resolve_deadline(complaint: Complaint) -> datetime | None:
    """The earliest deadline of the complaint's resolve clocks (target or statutory)."""
    return Clock.objects.filter(complaint_id=complaint.pk, kind="resolve").aggregate(
        due=Min("due_at")
    )["due"]


# -- choosing --------------------------------------------------------------------------


def live_macros() -> list[Macro]:
    """Every macro in use, by name: held in memory until one changes
    (``escalation.configuration``); shared by the process's requests, so read-only."""

    def load() -> list[Macro]:
        return list(
            Macro.objects.filter(archived_at__isnull=True)
            .select_related("guideline", "guideline__root_cause", "category", "root_cause")
            .order_by("name", "pk")
        )

    return configuration.cached("desk-macros", load)


def may_use(macro: Macro, user, complaint: Complaint) -> bool:
    """Everyone's macros, the complaint's team's, and the user's own."""
    if macro.archived_at is not None:
        return False
    return shared_with(
        visibility=macro.visibility,
        macro_team_id=macro.team_id,
        owner_id=macro.owner_id,
        user=user,
        team_id=complaint.team_id,
    )


def shared_with(*, visibility: str, macro_team_id, owner_id, user, team_id) -> bool:
    """``may_use``'s rule on a live macro's columns, for a complaint of team ``team_id``:
    the queue's bulk bar asks it of the macros held in memory, without reading a macro."""
    if visibility == MacroVisibility.TEAM:
        return macro_team_id is not None and macro_team_id == team_id
    if visibility == MacroVisibility.PERSONAL:
        return owner_id == user.pk
    return True


@dataclass(frozen=True)
class Offered:
    macro: Macro
    suggested: bool


def macros_for(complaint: Complaint, user, offered: list[Macro] | None = None) -> list[Offered]:
    """The macros ``user`` may use on ``complaint``: those of its cause or category first
    (suggested), then the others, each group by name.

    ``offered``: the macros the complaint's read brought along (the desk's page), already
    those the user may use; else those held in memory (``live_macros``)."""
    causes = {link.root_cause_id for link in complaint.root_causes.all()}
    rows = []
    for macro in live_macros() if offered is None else offered:
        if not may_use(macro, user, complaint):
            continue
        suggested = (macro.root_cause_id is not None and macro.root_cause_id in causes) or (
            macro.category_id is not None and macro.category_id == complaint.category_id
        )
        rows.append(Offered(macro, suggested))
    rows.sort(key=lambda row: not row.suggested)  # stable: by name within each group
    return rows


# -- managing --------------------------------------------------------------------------


@dataclass
class MacroFields:
    name: str
    body: str
    next_steps: str = ""
    visibility: str = MacroVisibility.EVERYONE
    team: object = None
    category: object = None
    root_cause: object = None
    guideline: object = None
    puts_on_hold: bool = False


def _ensure_manager(actor) -> None:
    if not actor.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied(_("Only supervisors manage macros."))


def _check(fields: MacroFields) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not fields.name.strip():
        problems["name"] = [_("Give the macro a name.")]
    if not fields.body.strip():
        problems["body"] = [_("Write the macro's text.")]
    for name in ("body", "next_steps"):
        text = getattr(fields, name)
        if len(text) > BODY_MAX:
            problems.setdefault(name, []).append(
                _("At most %(max)s characters.") % {"max": BODY_MAX}
            )
        unknown = unknown_placeholders(text)
        if unknown:
            problems.setdefault(name, []).append(
                _("Unknown placeholder %(unknown)s: use only %(known)s.")
                % {
                    "unknown": ", ".join(f"{{{n}}}" for n in unknown),
                    "known": ", ".join(f"{{{n}}}" for n in PLACEHOLDERS),
                }
            )
    if fields.visibility not in MacroVisibility.values:
        problems["visibility"] = [_("Choose who shares the macro.")]
    elif fields.visibility == MacroVisibility.TEAM and fields.team is None:
        problems["team"] = [_("Choose the team whose complaints it is for.")]
    return problems


def macro_save(*, actor, fields: MacroFields, macro_id: int | None = None) -> Macro:
    """Create a macro, or change the one ``macro_id`` names.

    1. a supervisor only; the text holds only known placeholders;
    2. in one transaction: lock the macro being changed (two supervisors saving it at once
       are applied in turn), refuse a name another macro in use has;
    3. a personal macro belongs to whoever made it personal.
    """
    _ensure_manager(actor)
    problems = _check(fields)
    if problems:
        raise ValidationFailed(_("The macro was not saved: fix what is marked."), details=problems)
    name = " ".join(fields.name.split())
    try:
        with transaction.atomic():
            if macro_id is None:
                macro = Macro(created_by=actor)
            else:
                macro = Macro.objects.select_for_update().filter(pk=macro_id).first()
                if macro is None:
                    raise NotFound(_("No macro has number %(id)s.") % {"id": macro_id})
                if macro.archived_at is not None:
                    raise ValidationFailed(
                        _("“%(name)s” is archived; it can no longer be changed.")
                        % {"name": macro.name}
                    )
            taken = Macro.objects.filter(name__iexact=name, archived_at__isnull=True)
            if macro.pk:
                taken = taken.exclude(pk=macro.pk)
            if taken.exists():
                raise _name_taken(name)
            macro.name = name
            macro.body = fields.body.strip()
            macro.next_steps = fields.next_steps.strip()
            macro.visibility = fields.visibility
            macro.team = fields.team if fields.visibility == MacroVisibility.TEAM else None
            if fields.visibility == MacroVisibility.PERSONAL:
                macro.owner = macro.owner if macro.owner_id else actor
            else:
                macro.owner = None
            macro.category = fields.category
            macro.root_cause = fields.root_cause
            macro.guideline = fields.guideline
            macro.puts_on_hold = fields.puts_on_hold
            macro.save()
    except IntegrityError as error:
        # Two supervisors creating the same name at once: the second meets the constraint.
        raise _name_taken(name) from error
    return macro


def _name_taken(name: str) -> ValidationFailed:
    return ValidationFailed(
        _("Another macro in use is already called “%(name)s”.") % {"name": name},
        details={"name": [_("Choose another name.")]},
    )


def macro_archive(*, actor, macro_id: int) -> Macro:
    """Take a macro out of use; it stays for the record. Archiving twice is harmless."""
    _ensure_manager(actor)
    with transaction.atomic():
        macro = Macro.objects.select_for_update().filter(pk=macro_id).first()
        if macro is None:
            raise NotFound(_("No macro has number %(id)s.") % {"id": macro_id})
        if macro.archived_at is None:
            macro.archived_at = timezone.now()
            macro.save(update_fields=["archived_at", "updated_at"])
    return macro


# -- using -----------------------------------------------------------------------------


def usable_macro(*, macro_id: int, actor, complaint: Complaint) -> Macro:
    """The macro, read afresh (it may have been archived since the page was shown)."""
    macro = Macro.objects.select_related("guideline", "root_cause").filter(pk=macro_id).first()
    if macro is None:
        raise NotFound(_("No macro has number %(id)s.") % {"id": macro_id})
    if macro.archived_at is not None:
        raise ValidationFailed(
            _("“%(name)s” was archived; choose another macro.") % {"name": macro.name},
            details={"macro": [_("Archived.")]},
        )
    if not may_use(macro, actor, complaint):
        raise PermissionDenied(
            _("“%(name)s” is not offered on %(reference)s.")
            % {"name": macro.name, "reference": complaint.reference}
        )
    return macro


def macro_use(
    *,
    complaint: Complaint,
    actor,
    macro_id: int,
    body: str | None = None,
    next_steps: str | None = None,
    expected_state: str | None = None,
) -> str:
    """Send the macro's text to the customer, and put the complaint on hold if it says so.

    ``body`` and ``next_steps``: the text as the agent edited it; ``None`` fills the macro's
    own (a bulk use). Returns ``"acknowledged"`` or ``"replied"``.

    1. the macro, read afresh, is one the actor may use on this complaint;
    2. one transaction, the complaint's row locked first, so that its state is the one the
       text is sent for (a complaint withdrawn meanwhile takes no message);
    3. received: an acknowledgement (it must name the reference and say what happens next);
       otherwise a reply; then the hold. A refusal at any step undoes the others.
    """
    macro = usable_macro(macro_id=macro_id, actor=actor, complaint=complaint)
    values = None
    if body is None or next_steps is None:
        values = values_for(complaint, actor, resolve_deadline(complaint))
    text = (fill(macro.body, values) if body is None else body).strip()
    steps = (fill(macro.next_steps, values) if next_steps is None else next_steps).strip()
    if not text:
        raise ValidationFailed(_("Write the message."), details={"body": [_("Required.")]})
    if len(text) > BODY_MAX:
        raise ValidationFailed(
            _("The message is longer than %(max)s characters.") % {"max": BODY_MAX},
            details={"body": [_("Shorten it.")]},
        )
    with transaction.atomic():
        locked = Complaint.objects.select_for_update(of=("self",)).get(pk=complaint.pk)
        if expected_state and locked.state != expected_state:
            raise Conflict(
                _(
                    "%(reference)s changed while you were looking at it: it is now %(state)s, "
                    "not %(expected)s. Reload it and try again."
                )
                % {
                    "reference": locked.reference,
                    "state": locked.state,
                    "expected": expected_state,
                },
                details={"state": locked.state},
            )
        if locked.state == State.RECEIVED:
            if not steps:
                raise ValidationFailed(
                    _(
                        "%(reference)s is not acknowledged yet, and “%(name)s” says nothing "
                        "of what happens next: acknowledge it from its page."
                    )
                    % {"reference": locked.reference, "name": macro.name},
                    details={"next_steps": [_("Required to acknowledge.")]},
                )
            done = lifecycle.complaint_acknowledge(
                complaint=locked,
                actor=actor,
                message=text,
                next_steps=steps,
                expected_state=State.RECEIVED,
            )
            outcome = "acknowledged"
        else:
            message_services.message_add(complaint=locked, actor=actor, body=text)
            done, outcome = locked, "replied"
        if macro.puts_on_hold:
            sla.complaint_set_awaiting_customer(
                complaint=done,
                actor=actor,
                awaiting=True,
                reason=_("macro “%(name)s”") % {"name": macro.name},
            )
        if macro.category_id is not None and macro.category_id != locked.category_id:
            categories.complaint_recategorise(
                complaint=locked,
                actor=actor,
                category=macro.category_id,
                reason=_("macro “%(name)s”") % {"name": macro.name},
                macro=macro,
            )
        if macro.root_cause_id is not None:
            # Causes are recorded when resolving: the resolve form offers this one first.
            events.root_cause_suggested(locked, actor, macro, macro.root_cause)
    return outcome
