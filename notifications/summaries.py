"""The one line a notification says: which complaint, what it is about, who did what.

``RDR-2026-000123 “Charged twice for one order”: Alex Agent acknowledged it``. A bare
"message added" made people open every complaint to learn whether it needed them. The
subject and the people are read when the event is delivered (one query each): events are
written by code that does not load them (the clock sweeper defers the complaint's texts).
"""

from django.contrib.auth import get_user_model

from notifications.models import Outbox
from recovery import selectors as recovery_selectors

# Long subjects are cut: the whole line is at most 300 characters, and an email subject
# or a bell menu shows about 80.
SUBJECT_MAX = 60
# A note's opening words, in what a colleague named in it is told: enough to tell whether it
# needs them now, and short enough for the whole line to stay within 300 characters.
EXCERPT_MAX = 120

# What happened, by event type; ``{who}`` is whoever did it.
_DONE = {
    "acknowledged": "{who} acknowledged it",
    "resolved": "{who} resolved it",
    "loop_closed": "{who} closed the loop",
    "reopened": "{who} reopened it",
    "withdrawn": "{who} withdrew it",
    "note_added": "{who} added an internal note",
    "awaiting_customer": "{who} set it to await the customer",
    "awaiting_ended": "it no longer awaits the customer",
    "escalation_requested": "the customer asked for it to be escalated",
    "recovery_proposed": "{who} proposed a recovery",
    "recovery_approval_requested": "{who} asks for approval of a recovery",
    "recovery_approved": "{who} approved the recovery",
    "recovery_declined": "{who} declined the recovery",
    "recovery_delivered": "{who} delivered the recovery",
    "survey_sent": "{who} sent the survey",
    "survey_answered": "the customer answered the survey",
    "corrective_action_linked": "{who} linked a corrective action",
    "regulation_changed": "{who} changed its regulatory profile",
    "obligation_answered": "{who} answered a statutory obligation",
    "delay_notified": "{who} notified the customer of a delay",
    "deadline_extended": "{who} extended a statutory deadline",
    "email_held": "an email was held for review",
    "held_email_accepted": "{who} accepted a held email as the customer's",
    "held_email_opened": "{who} opened a held email as a new complaint",
    "held_email_discarded": "{who} discarded a held email",
    "customer_replied_after_closing": "the customer replied after it was closed",
    "details_corrected": "{who} corrected its details",
    "tracking_link_reissued": "{who} re-issued the tracking link",
    "recovery_decided_after_closing": "the customer was told of a recovery decided after closing",
    "routed": "routed to a team",
    "duplicate_merged": "{who} merged a duplicate into it",
    "category_changed": "{who} changed its category",
    "root_cause_suggested": "{who} used a macro that suggests its root cause",
}


def summary_of(row: Outbox) -> str:
    if row.complaint_id is None and row.payload.get("summary"):
        # Events about no single complaint (a rising root cause) carry their own sentence.
        return str(row.payload["summary"])[:300]
    return f"{_about(row)}: {_what(row)}"[:300]


def mentioned_usernames(row: Outbox) -> list[str]:
    """Who an internal note names and tells (``recovery.mentions``); [] for other events."""
    if row.event_type != "complaint.note_added":
        return []
    return list((row.payload.get("parameters") or {}).get("mentioned") or [])


def mentioned_ids(row: Outbox, user_ids) -> set[int]:
    """Those of ``user_ids`` the event's note names (one query, only for such notes)."""
    names = mentioned_usernames(row)
    if not names or not user_ids:
        return set()
    users = get_user_model().objects.filter(pk__in=list(user_ids))
    return set(users.filter(username__in=names).values_list("pk", flat=True))


def mention_summary_of(row: Outbox) -> str:
    """What a colleague named in an internal note is told, rather than the team's "added an
    internal note": who named them, in which complaint, and the note's opening words.

    ``Alex Agent mentioned you in RDR-2026-000123 “Charged twice”: “@sam could you…”``
    """
    parameters = row.payload.get("parameters") or {}
    who = _name(row.payload.get("actor_id"), default="Someone")
    excerpt = " ".join(recovery_selectors.message_body(parameters.get("message_id")).split())
    if len(excerpt) > EXCERPT_MAX:
        excerpt = excerpt[: EXCERPT_MAX - 1].rstrip() + "…"
    line = f"{who} mentioned you in {_about(row)}"
    return (f"{line}: “{excerpt}”" if excerpt else line)[:300]


def _about(row: Outbox) -> str:
    """The complaint's reference and (shortened) subject."""
    reference = row.payload.get("reference", "")
    subject = recovery_selectors.complaint_subject(row.complaint_id) if row.complaint_id else ""
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    return f"{reference} “{subject}”" if subject else reference


def _what(row: Outbox) -> str:
    parameters = row.payload.get("parameters") or {}
    event = row.event_type.removeprefix("complaint.")
    actor_id = row.payload.get("actor_id")
    if event == "email_not_delivered":
        # The handler must see what did not arrive, to whom, and why, before opening it.
        letter = "regulatory letter" if parameters.get("regulatory_letter") else "email"
        kind = str(parameters.get("kind", "")).replace("_", " ")
        why = parameters.get("diagnostic") or parameters.get("status") or parameters.get("action")
        what = "delayed" if parameters.get("action") == "delayed" else "not delivered"
        return f"{kind} {letter} to {parameters.get('recipient', 'the customer')} {what} ({why})"
    if event == "email_resent":
        kind = str(parameters.get("kind", "")).replace("_", " ")
        return f"{_name(actor_id)} resent the {kind} email to {parameters.get('recipient')}"
    if event in ("escalated", "de_escalated"):
        # The reason names the breach that caused it, which is not told separately.
        reason = parameters.get("reason")
        why = f": {reason}" if reason else ""
        done = event.replace("_", "-")
        return f"{done} to level {parameters.get('level')}{why}"
    if event == "unpicked" and parameters.get("minutes"):
        return f"nobody has picked it up in {parameters['minutes']} minutes"
    if event in ("clock_warning", "clock_breached"):
        # Staff must tell a missed legal deadline from a missed promise at a glance.
        clock = parameters.get("clock", "")
        how = "at risk" if event == "clock_warning" else "breached"
        if parameters.get("statutory"):
            rule = parameters.get("rule") or parameters.get("regulatory_profile", "")
            return f"{clock} statutory deadline ({rule}) {how}"
        return f"{clock} deadline {how}"
    if event == "received":
        channel = parameters.get("channel", "")
        who = _name(actor_id, default="")
        return f"new complaint ({channel})" + (f", logged by {who}" if who else "")
    if event == "message_added":
        if parameters.get("direction") == "inbound":
            return "the customer wrote"
        return f"{_name(actor_id)} wrote to the customer"
    if event == "assigned":
        assignee = parameters.get("assignee_id")
        to = f"to {_name(assignee)}" if assignee else "to nobody"
        return f"{_name(actor_id)} assigned it {to}"
    done = _DONE.get(event)
    who = _name(actor_id, default="")
    if done is not None and (who or "{who}" not in done):
        return done.format(who=who)
    # Nobody did it (or nobody we know of): what happened, plainly.
    return event.replace("_", " ")


def _name(user_id, *, default: str = "Redress") -> str:
    """A person's full name (else their username); events nobody did are Redress's."""
    if not user_id:
        return default
    user = (
        get_user_model()
        .objects.filter(pk=user_id)
        .values_list("first_name", "last_name", "username")
        .first()
    )
    if user is None:
        return default
    first, last, username = user
    return f"{first} {last}".strip() or username
