"""Filters of the web pages: deadlines as words, risk of a queue row, people's initials."""

import html
from datetime import UTC, datetime
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from common.template_dates import formatted, moment
from common.text import mark_directional_controls, normalise_line_endings
from desk.forms import new_submission_token
from desk.selectors import statutory_due_label
from escalation import regulatory
from escalation.models import ClockKind
from recovery import mentions
from recovery.models import AttachmentSource, EventType, QueueColumn, State, Urgency
from recovery.services import routing

register = template.Library()


@register.filter
def bdi(value) -> str:
    """``value`` escaped and bidi-isolated: ``<bdi>…</bdi>``.

    For text a customer (or anyone outside) wrote, shown in a line with our own words: a
    right-to-left override (U+202E) or an isolate left open in a name or subject stays
    inside it instead of reordering the rest of the line. Empty values stay empty.
    """
    if value is None or value == "":
        return ""
    return format_html("<bdi>{}</bdi>", value)


@register.filter
def free_text(value) -> str:
    """Text someone wrote (a story, a message, a note, a held email), escaped and made inert.

    Shown in an element styled ``white-space: pre-wrap`` (``.story``, ``.body``): the text's
    own line breaks and runs of spaces show as written, so no ``<br>`` is added (it would
    double every break). Directional formatting characters (U+202A-U+202E, U+2066-U+2069)
    become visible markers instead of reordering the text ("\u202egnp.exe" would read
    "exe.png"); the stored text is unchanged (common.text).
    """
    if value is None:
        return ""
    text = normalise_line_endings(str(value))
    return mark_safe(mark_directional_controls(escape(text)))  # noqa: S308 - escaped first


# A story longer than this is shown clamped to its first lines, with "Show all": about six
# lines of the complaint page's main column (some 100 characters a line), so that a
# 20,000-character story does not push the clocks and the actions off the first screens.
LONG_TEXT_CHARS = 600
LONG_TEXT_LINES = 6


@register.filter
def is_long_text(value) -> bool:
    """Whether text someone wrote is long enough to be shown collapsed (``.long-text``)."""
    text = str(value or "")
    return len(text) > LONG_TEXT_CHARS or text.count("\n") >= LONG_TEXT_LINES


RISK_LABELS = {
    "breached": gettext_lazy("Breached"),
    "at_risk": gettext_lazy("At risk"),
    "on_track": gettext_lazy("On track"),
    "paused": gettext_lazy("Paused"),
    "met": gettext_lazy("Met"),
    "cancelled": gettext_lazy("Cancelled"),
    "none": gettext_lazy("No deadline"),
}


def _span(seconds: float) -> str:
    days, rest = divmod(int(abs(seconds)), 86_400)
    if days:
        hours = rest // 3_600
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days} + (
            f" {hours} h" if hours else ""
        )
    return _hours_minutes(rest)


def _hours_minutes(seconds: int) -> str:
    """``3 h 20 min``, ``45 min`` or ``under a minute`` for whole, non-negative seconds."""
    hours, minutes = seconds // 3_600, seconds % 3_600 // 60
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{max(minutes, 1)} min" if seconds >= 60 else _("under a minute")


@register.filter
def time_left(when: datetime | None, now: datetime | None = None) -> str:
    """``in 3 h 20 min`` before the instant, ``2 days 4 h ago`` after it."""
    if when is None:
        return ""
    now = now or timezone.now()
    delta = (when - now).total_seconds()
    if delta >= 0:
        return _("in %(span)s") % {"span": _span(delta)}
    return _("%(span)s ago") % {"span": _span(delta)}


def overdue_text(row, now: datetime) -> str:
    """Which deadline of a queue row is breached and by how much: "Resolve overdue by 3 h",
    "Resolve (statutory) overdue by 2 days 4 h"; "Overdue by 5 min" for a deadline passed
    since the row's urgency was last written (the sweeper has not reached it yet); "" when
    nothing is overdue."""
    if row.overdue_since is not None:
        kind = row.overdue_kind
        label = str(ClockKind(kind).label) if kind in ClockKind.values else kind
        if row.urgency == Urgency.STATUTORY_BREACHED:
            label = _("%(deadline)s (statutory)") % {"deadline": label}
        span = _span((now - row.overdue_since).total_seconds())
        return _("%(deadline)s overdue by %(span)s") % {"deadline": label, "span": span}
    if row.next_deadline_at is not None and row.next_deadline_at <= now:
        return _("Overdue by %(span)s") % {
            "span": _span((now - row.next_deadline_at).total_seconds())
        }
    return ""


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return _span(seconds)


@register.filter
def business_hours(seconds: float | None) -> str:
    """Business time in hours and minutes: a "day" of business time would read as 24 open
    hours, which an office with 8 a day does not have."""
    if seconds is None:
        return ""
    return _hours_minutes(int(abs(seconds)))


register.filter("profile_name", regulatory.profile_name)


@register.filter
def counted_in(complaint) -> str:
    """The region a complaint's statutory deadlines count in, as the clocks do."""
    profile = regulatory.get_profile(complaint.regulatory_profile)
    if profile is None:
        return complaint.jurisdiction or ""
    region = profile.region(complaint.jurisdiction)
    return f"{region.name} ({region.code})"


@register.filter
def regulation_change(parameters: dict) -> str:
    """' — jurisdiction GB-ENG → GB-SCT; resolve due 9 Apr → 8 Apr' for the timeline."""
    before, after = parameters.get("before") or {}, parameters.get("after") or {}
    parts = [
        f"{name.replace('_', ' ')} {before.get(name) or '—'} → {after.get(name) or '—'}"
        for name in after
        if before.get(name) != after.get(name)
    ]
    for kind, due in sorted((parameters.get("deadlines") or {}).items()):
        was = _utc_minute(due.get("before")) or "—"
        now = _utc_minute(due.get("after")) or _("cancelled")
        parts.append(f"{kind} due {was} → {now}")
    return f" — {'; '.join(parts)}" if parts else ""


@register.filter
def event_title(event) -> str:
    """What the timeline says an event was: its type, or a sentence where its parameters
    say more ("Routed to Billing by rule 'Refunds keywords'")."""
    parameters = event.parameters or {}
    if event.type == "routed" and parameters.get("team"):
        return routing.describe(parameters)
    if event.type == "unpicked" and parameters.get("minutes"):
        return _("Nobody picked it up in %(n)s minutes; supervisors told") % {
            "n": parameters["minutes"]
        }
    if event.type == "assigned":
        if parameters.get("assignee_id") is None:
            return _("Unassigned (back to the team queue)")
        name = display_name(getattr(event, "assignee", None)) or _(
            "a member of staff no longer listed"
        )
        return _("Assigned to %(name)s") % {"name": name}
    if event.type == "details_corrected" and parameters.get("changes"):
        return _("Details corrected: %(fields)s") % {
            "fields": ", ".join(field.replace("_", " ") for field in sorted(parameters["changes"]))
        }
    if event.type == "category_changed" and parameters.get("after"):
        before = (parameters.get("before") or {}).get("name") or _("no category")
        title = _("Category changed: %(before)s → %(after)s") % {
            "before": before,
            "after": parameters["after"].get("name", ""),
        }
        macro = (parameters.get("macro") or {}).get("name")
        return title + (_(" (macro “%(name)s”)") % {"name": macro} if macro else "")
    if event.type == "root_cause_suggested" and parameters.get("root_cause"):
        return _("Root cause suggested by macro “%(macro)s”: %(cause)s") % {
            "macro": (parameters.get("macro") or {}).get("name", ""),
            "cause": parameters.get("root_cause_name") or parameters["root_cause"],
        }
    if event.type in ("escalated", "de_escalated") and parameters.get("level") is not None:
        title = (
            _("Escalated to level %(n)s")
            if event.type == "escalated"
            else _("De-escalated to level %(n)s")
        )
        return title % {"n": parameters["level"]}
    if event.type in ("attachment_added", "attachment_refused") and parameters.get("filename"):
        title = (
            _("File attached: %(name)s (%(source)s)")
            if event.type == "attachment_added"
            else _("File refused: %(name)s (%(source)s)")
        )
        source = parameters.get("source", "")
        return title % {
            "name": parameters["filename"],
            "source": _ATTACHMENT_SOURCES.get(source, source),
        }
    # As get_type_display(), which hashes every event type's label (a translation each) on
    # every call: 50 events cost 2,000 translations.
    return str(_EVENT_LABELS.get(event.type, event.type))


_EVENT_LABELS = dict(EventType.choices)
_ATTACHMENT_SOURCES = dict(AttachmentSource.choices)


def mentions_marked(escaped: str) -> str:
    """A note's ``@username`` mentions highlighted, in text already escaped (``free_text``):
    the pattern matches no character that escaping writes (``&``, ``;``, ``#``)."""
    return mentions.MENTION.sub(
        lambda match: f'<mark class="mention">{match.group(0)}</mark>', escaped
    )


def _not_notified(entries) -> str:
    """Why a note's mentions told nobody, one sentence per name."""
    sentences = []
    for entry in entries:
        name = "@" + str(entry.get("username", "")) if isinstance(entry, dict) else ""
        if entry.get("why") == mentions.NO_ACCESS:
            text = _("%(name)s was not told: they may not see this complaint.")
        else:
            text = _("%(name)s was not told: there is no active member of staff of that name.")
        sentences.append(text % {"name": name})
    return html.escape(" ".join(sentences))


def _complaint_link(reference: str) -> str:
    url = reverse("desk:complaint", args=[reference])
    return f'<a href="{html.escape(url)}">{html.escape(reference)}</a>'


def _merged_from(reference: str) -> str:
    """A message copied from a duplicate merged into this complaint says from which."""
    if not reference:
        return html.escape(_("copied from a merged duplicate"))
    return html.escape(_("copied from %(reference)s")) % {"reference": _complaint_link(reference)}


def _merge_link(event, parameters: dict) -> str:
    """The other complaint of a merge, linked, on both timelines (``recovery.events``), and
    the customer record joined to the other's, if one was."""
    link = ""
    if event.type == "withdrawn" and parameters.get("duplicate_of"):
        link = html.escape(_("as a duplicate of %(reference)s")) % {
            "reference": _complaint_link(str(parameters["duplicate_of"]))
        }
    elif event.type == "duplicate_merged" and parameters.get("duplicate"):
        link = html.escape(_("%(reference)s merged into this complaint")) % {
            "reference": _complaint_link(str(parameters["duplicate"]))
        }
    moved = parameters.get("customer_linked")
    if link and isinstance(moved, dict) and moved.get("complaint"):
        link += html.escape(
            _(
                "; %(reference)s moved from its provisional customer record to the other "
                "complaint's customer"
            )
        ) % {"reference": _complaint_link(str(moved["complaint"]))}
    return link


@register.simple_tag
def submission_token() -> str:
    """A fresh one-time token (``forms.OneTimeSubmission``) for a form drawn once per item,
    each email's *Resend* or *Accept*: each item's form is its own, so one sent does not
    answer another's "already done"."""
    return new_submission_token()


@register.simple_tag
def message_items(messages, customer_name: str = "", *, internal: bool = False, story: str = ""):
    """The conversation's (or, ``internal``, the notes') items, built in Python as the
    timeline's are; the same output as the template they replaced, but for whitespace. An
    empty list says so. The original message that is the customer's ``story``, shown above
    it on the page, points to it rather than repeating it."""
    if not messages:
        empty = _("No notes.") if internal else _("No messages yet.")
        return mark_safe(f"<li>{html.escape(empty)}</li>")  # noqa: S308 - escaped
    quoted = (
        '<details class="quoted-text"><summary>{}</summary><p>{}</p>'
        '<div class="body" dir="auto">{{}}</div></details>'
    ).format(
        html.escape(_("Show quoted text")),
        html.escape(_("Quoted text was cut from this email; its whole text:")),
    )
    next_try = html.escape(_("next try at"))
    story_link = '<p class="body"><a href="#story-title">{}</a></p>'.format(
        html.escape(_("The complaint as filed: its text is above, under “The customer's story”."))
    )
    lines = []
    for message in messages:
        if internal:
            who = html.escape(display_name(message.author))
            meta = f"<strong>{who}</strong> · {moment(template_localtime(message.created_at))}"
            parts = ['<li class="message internal">']
        else:
            if message.direction == "inbound":
                who = bdi(message.written_by or customer_name)
            else:
                who = bdi(display_name(message.author) or _("Redress"))
            meta = (
                f"<strong>{who}</strong> · {html.escape(str(message.kind_label))} · "
                f"{moment(template_localtime(message.created_at))}"
            )
            parts = [f'<li class="message {html.escape(message.direction)}">']
        if getattr(message, "merged_from_id", None):
            meta += " · " + _merged_from(getattr(message, "merged_from_reference", ""))
        parts.append(f'<p class="meta">{meta}</p>')
        if not internal and story and message.kind == "original" and message.body == story:
            parts.append(story_link)
        elif internal:
            body = mentions_marked(free_text(message.body))
            parts.append(f'<div class="body" dir="auto">{body}</div>')
            not_notified = getattr(message, "not_notified", ())
            if not_notified:
                parts.append(
                    f'<p class="mention-note" role="note">{_not_notified(not_notified)}</p>'
                )
        else:
            parts.append(f'<div class="body" dir="auto">{free_text(message.body)}</div>')
        full_text = getattr(message, "full_text", "")
        if full_text:
            parts.append(quoted.format(free_text(full_text)))
        undelivered = None if internal else getattr(message, "undelivered", None)
        if undelivered:
            note = html.escape(undelivered.summary)
            if undelivered.at:
                note += f", {moment(template_localtime(undelivered.at), 'short')}"
            if undelivered.retrying:
                when = moment(template_localtime(undelivered.next_attempt_at), "short")
                note += f"; {next_try} {when}"
            parts.append(f'<p class="undelivered" role="note">{note}</p>')
        parts.append("</li>")
        lines.append("".join(parts))
    return mark_safe("\n".join(lines))  # noqa: S308 - every value was escaped


@register.simple_tag
def timeline_items(events):
    """The timeline's items, built in Python (as ``queue_rows``): the template language
    cost about a quarter of a millisecond per event, the page's largest share with a long
    timeline. The same output as the template it replaced::

        <li>{{ event.created_at|moment:"short" }} {{ event|event_title }}
        {% if event.parameters.rule %} ({{ event.parameters.rule }}){% endif %}
        {% if event.actor %} · {{ event.actor|display_name }}{% endif %}
        {% if event.parameters.reason %}: {{ event.parameters.reason }}{% endif %}
        {% if event.type == "regulation_changed" %}{{ event.parameters|regulation_change }}
        {% endif %}</li>

    Every value is escaped with ``html.escape``, which is what Django's ``escape`` calls.
    """
    lines = []
    for event in events:
        parameters = event.parameters if isinstance(event.parameters, dict) else {}
        parts = [
            "<li>",
            moment(template_localtime(event.created_at), "short"),
            " ",
            html.escape(str(event_title(event))),
        ]
        if parameters.get("rule"):
            parts.append(f" ({html.escape(str(parameters['rule']))})")
        merge_link = _merge_link(event, parameters)
        if merge_link:
            parts.append(f" {merge_link}")
        if event.actor_id is not None and event.actor is not None:
            parts.append(f" · {html.escape(display_name(event.actor))}")
        if parameters.get("reason"):
            parts.append(f": {html.escape(str(parameters['reason']))}")
        if event.type == "regulation_changed":
            parts.append(html.escape(regulation_change(parameters)))
        parts.append("</li>")
        lines.append("".join(parts))
    return mark_safe("\n".join(lines))  # noqa: S308 - every value went through html.escape


def _utc_minute(iso: str | None) -> str:
    if not iso:
        return ""
    return formatted(datetime.fromisoformat(iso).astimezone(UTC), "when") + " UTC"


@register.filter
def risk(row, now: datetime | None = None) -> str:
    """The worst deadline state of a queue row annotated by ``selectors.with_risk``."""
    now = now or timezone.now()
    if getattr(row, "breached", False) or (
        row.next_deadline_at is not None and row.next_deadline_at <= now
    ):
        return "breached"
    if getattr(row, "at_risk", False):
        return "at_risk"
    if row.next_deadline_at is not None:
        return "on_track"
    return "none"


@register.filter
def risk_label(status: str) -> str:
    return RISK_LABELS.get(status, status)


@register.filter
def initials(name: str) -> str:
    parts = [part for part in str(name).replace(".", " ").replace("_", " ").split() if part]
    return "".join(part[0] for part in parts[:2]).upper() or "?"


@register.filter
def display_name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@register.filter
def aria_widget(field):
    """The field's widget pointing at its help text and errors (``aria-describedby``), and
    marked invalid when it has errors, so screen readers announce both."""
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_helptext")
    if field.errors:
        described.append(f"{field.auto_id}_errors")
    attrs = {}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.simple_tag
def options(choices, chosen=None, blank=None):
    """A select's ``<option>`` elements for ``(value, label)`` pairs, the one whose value reads
    as ``chosen`` selected; ``blank``: a first option with no value and that label.

    Built in Python: a ``{% for %}`` with a comparison per option cost the queue page about
    as much as its 50 rows, for a cause list of a few hundred entries."""
    chosen = "" if chosen is None else str(chosen)
    parts = [] if blank is None else [f'<option value="">{html.escape(str(blank))}</option>']
    for value, label in choices:
        value = "" if value is None else str(value)
        selected = " selected" if value == chosen else ""
        parts.append(
            f'<option value="{html.escape(value)}"{selected}>{html.escape(str(label))}</option>'
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped above


@register.simple_tag
def queue_rows(rows, columns=None, queue_url=""):
    """The queue table's rows (``selectors.QueueRow``), built in Python: the template language costs about a
    millisecond a row here, which was most of the page's time with 50 rows.

    ``columns``: the columns a saved view shows (``QueueColumn`` values, the reference always
    second after the deadline when shown); every column when None. ``queue_url``: the queue
    an assignee's name links to, filtered to them (this page when empty).

    Every value is escaped with the standard library's ``html.escape``, which is what
    Django's ``escape`` calls (same output); ``format_html`` and ``escape`` themselves check
    every argument for lazy strings and safe strings first, which cost more than the
    escaping across the 600 values of a page.
    """
    zone = timezone.get_current_timezone()
    # One reverse() and one label lookup per page, not per row.
    link = reverse("desk:complaint", args=["REFERENCE"])
    states = {value: html.escape(str(label)) for value, label in State.choices}
    labels = {key: html.escape(str(label)) for key, label in RISK_LABELS.items()}
    on_hold = '<br><span class="badge waiting">{}</span>'.format(html.escape(_("On hold")))
    statutory_label = html.escape(_("statutory:"))
    select_label = html.escape(_("Select"))
    column_labels = {value: html.escape(str(label)) for value, label in QueueColumn.choices}
    if columns is None:
        columns = list(column_labels)
    lines = []
    for row in rows:
        status = html.escape(row.status)
        reference = html.escape(row.reference)
        deadline = ""
        if row.overdue_text:
            deadline = f'<br><strong class="overdue">{html.escape(row.overdue_text)}</strong>'
        if row.next_deadline_at is not None and not (
            row.overdue_since is None and row.overdue_text
        ):
            deadline += (
                f'<br><time datetime="{row.next_deadline_at.isoformat()}">'
                f"{html.escape(row.deadline_text)}</time>"
            )
        if row.next_statutory_deadline_at is not None:
            # Beside the soonest deadline (often an internal target), the legal one.
            # Its date in the region it counts in (a New York deadline ends on a New York
            # date, whatever this installation's zone).
            statutory_at = statutory_due_label(
                row.next_statutory_deadline_at,
                row.regulatory_profile,
                row.jurisdiction,
                short=True,
            )
            deadline += (
                f'<br><small class="statutory">{statutory_label} '
                f'<time datetime="{row.next_statutory_deadline_at.isoformat()}">'
                f"{html.escape(statutory_at)}</time></small>"
            )
        level = (
            f'<span class="badge level">L{int(row.escalation_level)}</span>'
            if row.escalation_level
            else "—"
        )
        received = timezone.localtime(row.received_at, zone)
        # The name links to the queue filtered to that person's complaints.
        assignee = (
            f'<a href="{html.escape(queue_url)}?assignee={html.escape(quote(row.assignee_username))}">'
            f"<bdi>{html.escape(row.assignee_name)}</bdi></a>"
            if row.assignee_name
            else "—"
        )
        # The bulk bar's selection: the box belongs to its form (form="bulk-form").
        select_cell = (
            f'<td class="select"><input type="checkbox" name="complaints" value="{reference}" '
            f'form="bulk-form" id="select-{reference}" aria-label="{select_label} {reference}">'
            "</td>"
        )
        reference_cell = (
            f'<td class="queue-link"><a href="{html.escape(link.replace("REFERENCE", row.reference))}">'
            f"{reference}</a></td>"
        )
        # data-label: the column's name, which a phone's card layout writes before the value
        # (the table's head is out of sight there); the deadline, the reference and the
        # subject say what they are.
        cells = {
            "deadline": f'<td class="deadline"><span class="badge risk-{status}">'
            f"{labels.get(row.status, status)}</span>{deadline}</td>",
            # <bdi>: a right-to-left override in a name or subject stays inside its cell.
            "subject": f"<td><bdi>{html.escape(row.subject)}</bdi></td>",
            "customer": f'<td data-label="{column_labels["customer"]}">'
            f"<bdi>{html.escape(row.customer_name)}</bdi></td>",
            "state": f'<td data-label="{column_labels["state"]}">'
            f"{states.get(row.state) or html.escape(row.state)}"
            f"{on_hold if row.awaiting_customer else ''}</td>",
            "level": f'<td data-label="{column_labels["level"]}">{level}</td>',
            "team": f'<td data-label="{column_labels["team"]}">'
            f"{html.escape(row.team_name) if row.team_name is not None else '—'}</td>",
            "assignee": f'<td data-label="{column_labels["assignee"]}">{assignee}</td>',
            "received": f'<td data-label="{column_labels["received"]}">'
            f'<time datetime="{row.received_at.isoformat()}">'
            f"{received.day} {received:%b}, {received:%H:%M}</time></td>",
        }
        shown = [cells[column] for column in columns if column in cells]
        # The reference, the row's link, always shows: after the deadline when it does.
        shown.insert(1 if "deadline" in columns else 0, reference_cell)
        lines.append(
            f'<tr class="risk-{status}" data-reference="{reference}">'
            f"{select_cell}{''.join(shown)}</tr>"
        )
    return mark_safe("\n".join(lines))  # noqa: S308 - every value went through html.escape
