"""The agent desk: queues, the complaint page and its actions, the notification inbox.

Every action is a form that posts to its own URL, calls one service and redirects back to
the complaint page (post/redirect/get); a ``RedressError`` re-renders the page with the
message on that form and the status the API would answer. The page's script only adds
live updates and presence on top.
"""

from functools import partial, wraps

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from common.errors import AlreadySent, NotFound, OutsideYourQueue, RedressError
from common.form_errors import add_to_form, status_of
from desk import (
    bulk_forms,
    category_page,
    forms,
    inbox_page,
    macro_page,
    remedies,
    selectors,
    signin,
    submissions,
    view_counts,
)
from desk.templatetags.redress_web import overdue_text, time_left
from escalation import regulatory
from escalation.services import ladder
from notifications import inbound_review, inbox, presence, undelivered
from notifications import selectors as notifications_selectors
from recovery import attachment_selectors, roles, rules
from recovery import selectors as recovery_selectors
from recovery.models import (
    AttachmentSource,
    Complaint,
    MessageDirection,
    MessageKind,
    QueueColumn,
    State,
)
from recovery.models.complaints import ROOT_CAUSE_CODE_VALIDATOR
from recovery.services import address_proof, attachments, lifecycle, sla, tracking_links
from recovery.services import messages as message_services

# Rows per queue page: a screenful, and one query whatever the number.
QUEUE_PAGE_SIZE = 50
# Beyond this many, the queue says "more than 1,000": nobody reads further, and counting
# every row of a large team's queue would be most of the page's cost.
QUEUE_COUNT_CAP = 1000


def staff_required(view):
    """Signed-in staff only: others are sent to sign in, or refused with a page saying why."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return signin.redirect_to_sign_in(request)
        if not roles.is_staff_member(request.user):
            return render(request, "403.html", {"reason": "staff"}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


# -- queues --------------------------------------------------------------------------------


@staff_required
def my_queue(request):
    return render_queue(request, "mine")


@staff_required
def team_queue(request):
    return render_queue(request, "team")


@staff_required
def unassigned_queue(request):
    """The team queue's complaints nobody has taken: what a supervisor hands out."""
    return render_queue(request, "unassigned")


QUEUE_URLS = {
    "mine": "desk:my-queue",
    "team": "desk:team-queue",
    "unassigned": "desk:unassigned-queue",
}


def render_queue(request, scope: str, *, saved_view=None):
    """A queue page: ``scope``'s complaints, filtered by the GET parameters, or by a saved
    view's (``saved_view``, whose columns it shows; only the page number comes from GET)."""
    if saved_view is None:
        data = request.GET
    else:
        data = QueryDict(mutable=True)
        data.update(saved_view.parameters)
        if "page" in request.GET:
            data["page"] = request.GET["page"]
    choices = selectors.queue_filter_choices()
    filters = forms.QueueFilterForm(
        data,
        teams=choices["team"],
        categories=choices["category"],
        root_causes=choices["root_cause"],
    )
    filters.is_valid()  # a wrong field is said on the page and ignored; the others still apply
    query = filters.queue_query(scope)
    text = query.q
    last_event_id = selectors.latest_event_id()
    now = timezone.now()
    queryset = selectors.queue(request.user, query, now)
    number = filters.cleaned_data.get("page") or 1
    # One row more than a page says whether there is a next page; the total is counted up
    # to a cap, so a queue of 30,000 costs what a queue of 1,000 does.
    offset = (number - 1) * QUEUE_PAGE_SIZE
    # A search for words reads its matches once, for the page and the count.
    ranked = selectors.ranked_matches(queryset, text, QUEUE_COUNT_CAP, query.sort)
    rows = selectors.queue_page(
        queryset, offset, QUEUE_PAGE_SIZE + 1, now, text, query.sort, ranked=ranked
    )
    has_next = len(rows) > QUEUE_PAGE_SIZE
    rows = rows[:QUEUE_PAGE_SIZE]
    for row in rows:
        row.deadline_text = time_left(row.next_deadline_at, now)
        row.overdue_text = overdue_text(row, now)
    if ranked is not None:
        total = ranked.count
    else:
        total = selectors.queue_count(queryset, QUEUE_COUNT_CAP, query.sort)
    past_end = _past_the_end(number, rows, total)
    assignee_name = _assignee_named(query.assignee, rows)
    params = data.copy()
    params.pop("page", None)
    columns = saved_view.columns if saved_view is not None and saved_view.columns else None
    headers = [
        (value, label)
        for value, label in QueueColumn.choices
        if columns is None or value in columns
    ]
    # The reference, the row's link, is always shown: after the deadline when that is.
    headers.insert(
        1 if headers and headers[0][0] == "deadline" else 0, ("reference", _("Reference"))
    )
    return render(
        request,
        "desk/queue.html",
        {
            "scope": scope,
            "nav": f"view-{saved_view.pk}" if saved_view is not None else scope,
            "saved_view": saved_view,
            "view_columns": columns,
            "column_headers": headers,
            "queue_url": reverse(QUEUE_URLS[scope]) if saved_view is not None else "",
            "last_event_id": last_event_id,
            "filters": filters,
            "rows": rows,
            "number": number,
            "has_next": has_next,
            "total": min(total, QUEUE_COUNT_CAP),
            "more_than_cap": total > QUEUE_COUNT_CAP,
            "now": now,
            # A saved view's pages link to the view with a page number only.
            "query_string": params.urlencode() if saved_view is None else "",
            "save_query_string": params.urlencode(),
            "filtered": query != selectors.QueueQuery(scope=scope),
            "filter_errors": [
                str(message)
                for messages_of_field in filters.errors.values()
                for message in messages_of_field
            ],
            "assignee_choices": filters.assignee_choices(assignee_name),
            "ranked": ranked is not None,
            "order_words": _order_words(ranked is not None, query.sort),
            "sort_by_time": query.sort in ("newest", "oldest"),
            "past_end": past_end,
            "unknown_assignee": assignee_name == "" and not rows,
            **bulk_forms.bar_context(request, choices, rows),
        },
    )


def _order_words(ranked: bool, sort: str) -> str:
    """How the rows are ordered, as the count line and the table's caption say it."""
    if ranked:
        return _("best match first")
    if sort == "newest":
        return _("newest first")
    if sort == "oldest":
        return _("oldest first")
    return _("most urgent first")


def _past_the_end(number: int, rows: list, total: int) -> str:
    """What to say on a page beyond the queue's last ("There is no page 14 …"), or ""."""
    if rows or number == 1:
        return ""
    if total > QUEUE_COUNT_CAP:
        return _("There is no page %(number)d: the queue ends before it.") % {"number": number}
    last = max(1, -(-total // QUEUE_PAGE_SIZE))
    return ngettext(
        "There is no page %(number)d: this queue has %(last)d page.",
        "There is no page %(number)d: this queue has %(last)d pages.",
        last,
    ) % {"number": number, "last": last}


def _assignee_named(username: str, rows: list) -> str | None:
    """The full name of the person the assignee filter names by username, for its option:
    from the page's rows, else read (only when the page is empty, so a page that shows rows
    costs no more); "" when no member of staff has that username; None for no such filter."""
    if username in ("", "me", "none"):
        return None
    for row in rows:
        if row.assignee_username == username:
            return row.assignee_name
    if rows:
        return username  # they have none of this page's rows: their username will do
    return selectors.staff_name(username)


# -- the complaint page --------------------------------------------------------------------


def load_complaint(request, reference: str) -> Complaint:
    """The complaint as the page shows it, with what the page shows beside it
    (``selectors.page_annotations``); 404 if nobody may see it, ``OutsideYourQueue`` if the
    access policy keeps it from this user (``complaint_or_refusal`` answers that)."""
    try:
        complaint = recovery_selectors.complaint_detail(
            reference=reference,
            user=request.user,
            annotations=selectors.page_annotations(request.user),
        )
    except NotFound as error:
        raise Http404(error.message) from error
    return complaint


def complaint_or_refusal(request, reference: str, *, unsaved: bool = False):
    """``(complaint, None)`` when the user may work it, else ``(None, the page saying why)``;
    ``unsaved``: the page also says that what they sent was not saved."""
    try:
        complaint = load_complaint(request, reference)
    except OutsideYourQueue as error:
        return None, _refused(request, error.reference, error.team_name, unsaved=unsaved)
    if rules.works_on(complaint, request.user):
        return complaint, None
    team_name = complaint.team.name if complaint.team else ""
    return None, _refused(request, complaint.reference, team_name, unsaved=unsaved)


def _refused(request, reference: str, team_name: str, *, unsaved: bool = False):
    return render(
        request,
        "403.html",
        {"reason": "team", "reference": reference, "team_name": team_name, "unsaved": unsaved},
        status=403,
    )


def rerender_after_error(request, reference: str, *, bound: dict, status: int):
    """The complaint page again with the form that failed and its error, re-read fresh.

    The complaint may have left the user's reach since the view checked (a supervisor moved
    it to another team in the meantime, which is often why the service refused): then the
    page saying whose queue it is now, and that nothing was saved, rather than a page the
    user may no longer see.
    """
    complaint, refused = complaint_or_refusal(request, reference, unsaved=True)
    if refused is not None:
        return refused
    return render_complaint(request, complaint, bound=bound, status=status)


@staff_required
def complaint_page(request, reference: str):
    if not selectors.page_reads_in_one_row():
        # Else the complaint's read brings it, in its own statement (page_annotations).
        request.last_event_id = selectors.latest_event_id()
    complaint, refused = complaint_or_refusal(request, reference)
    if refused is not None:
        return refused
    return render_complaint(request, complaint)


# The complaint page's forms; each posts to its own action, with its name as field prefix
# so that fields of the same name (a reply's body, a note's body) keep distinct ids.
PAGE_FORMS = {
    "acknowledge": forms.AcknowledgeForm,
    "reply": forms.ReplyForm,
    "note": forms.NoteForm,
    "hold": forms.HoldForm,
    "written_response": forms.WrittenResponseForm,
    "delay_notification": forms.DelayNotificationForm,
    "resolve": forms.ResolveForm,
    "close_loop": forms.CloseLoopForm,
    "reopen": forms.ReopenForm,
    "assign": forms.AssignForm,
    "escalate": forms.EscalateForm,
    "held": forms.HeldEmailReviewForm,
    "resend": forms.EmailResendForm,
    "tracking_link": forms.TrackingLinkForm,
    "link_customer": forms.LinkCustomerForm,
    "merge": forms.MergeForm,
    "recategorise": category_page.RecategoriseForm,
}


def render_complaint(request, complaint: Complaint, *, bound=None, status: int = 200):
    user = request.user
    now = timezone.now()
    clocks = selectors.clock_views(complaint.clocks.all(), now)
    allowed = lifecycle.available_transitions(complaint, user)
    bound = bound or {}
    timeline = selectors.timeline(complaint)
    initial = {
        "acknowledge": {**_acknowledgement(complaint, clocks), "expected_state": complaint.state},
        "hold": {"awaiting": "0"},
        "resolve": {
            "expected_state": complaint.state,
            # A macro used on the complaint named its likely cause: offered first.
            "primary_root_cause": selectors.suggested_root_cause(timeline),
        },
        "close_loop": {**_loop_closing(complaint), "expected_state": complaint.state},
        "reopen": {"expected_state": complaint.state},
        "assign": {"assignee": complaint.assignee_id},
    }
    page_forms = {
        name: bound.get(name) or form_class(prefix=name, initial=initial.get(name))
        for name, form_class in PAGE_FORMS.items()
    }
    staff = selectors.staff_choices(complaint)
    if staff is not None:
        page_forms["assign"].choose_from(staff)
    in_use = selectors.category_choices(complaint)
    if in_use is not None:
        page_forms["recategorise"].choose_from(in_use)
    recovery = remedies.page_context(complaint, user, bound.get("recovery"))
    messages_shown = list(complaint.messages.all())
    undelivered = notifications_selectors.undelivered_emails(complaint)
    by_message = {email.message_id: email for email in undelivered if email.message_id}
    full_texts = notifications_selectors.full_texts(
        complaint.pk, getattr(complaint, notifications_selectors.FULL_TEXT_ROWS, None)
    )
    kinds = dict(MessageKind.choices)  # as get_kind_display(), without its cost per message
    for message in messages_shown:
        message.kind_label = str(kinds.get(message.kind, message.kind))
        message.undelivered = by_message.get(message.pk)
        message.full_text = full_texts.get(message.pk, "")
    merges = selectors.merges(timeline)
    unnotified = selectors.unnotified_mentions(timeline)
    for message in messages_shown:
        message.merged_from_reference = merges.merged_from.get(message.merged_from_id, "")
        message.not_notified = unnotified.get(message.pk, ())
    history = selectors.customer_history(complaint, user)
    # The newest event id, read before the timeline (in the row's statement, or on its own).
    last_event_id = getattr(complaint, selectors.LATEST_EVENT_ID, None)
    context = {
        "complaint": complaint,
        "last_event_id": (
            last_event_id if last_event_id is not None else getattr(request, "last_event_id", 0)
        ),
        "now": now,
        "clocks": clocks,
        "allowed": allowed,
        "forms": page_forms,
        "conversation": [m for m in messages_shown if m.direction != MessageDirection.INTERNAL],
        "notes": [m for m in messages_shown if m.direction == MessageDirection.INTERNAL],
        "timeline": timeline,
        "merged_into": merges.merged_into,
        "attachments": attachment_selectors.complaint_attachments(complaint),
        "scanner_configured": bool(settings.REDRESS_CLAMD_ADDRESS),
        "root_causes": list(complaint.root_causes.all()),
        "escalations": list(complaint.escalations.all()),
        "history": history,
        "history_recoveries": selectors.customer_recoveries(complaint, user),
        "history_surveys": selectors.customer_surveys(complaint, user),
        "presence": presence.presence_list(
            complaint.pk, getattr(complaint, presence.PRESENCE_ROWS, None)
        ),
        "held_emails": notifications_selectors.held_emails(
            complaint.pk, getattr(complaint, notifications_selectors.HELD_ROWS, None)
        ),
        "undelivered": undelivered,
        # Letters that failed: a delayed one may still arrive, a retried one may still go.
        "undelivered_letters": [
            email for email in undelivered if email.regulatory_letter and email.failed
        ],
        "may_assign": user.has_perm("recovery.assign_complaint"),
        "may_escalate": user.has_perm("recovery.escalate_complaint") and complaint.is_open,
        "may_note": user.has_perm("recovery.add_internal_note"),
        "can_message": complaint.state != State.WITHDRAWN,
        # Merging a duplicate in withdraws it: those who may withdraw, on an open complaint.
        "may_merge": user.has_perm("recovery.withdraw_complaint") and complaint.is_open,
        "may_recategorise": category_page.may_recategorise(complaint, user),
        "letters": _letters(complaint),
        "is_assignee": complaint.assignee_id == user.pk,
        # Read only if the page shows the resolve form (a template calls a callable).
        "recent_root_causes": partial(
            selectors.recent_root_causes,
            user=user,
            team_id=complaint.team_id,
            complaint=complaint,
        ),
        **recovery,
        **macro_page.page_context(request, complaint, clocks, bound.get("macro")),
        **_header_counts(complaint),
        # The saved views' menu as the queue last counted it: no statement of its own here.
        "desk_saved_views": view_counts.cached_menu(request.user),
    }
    return render(request, "desk/complaint.html", context, status=status)


def _header_counts(complaint: Complaint) -> dict:
    """The header's counts (``desk.context``) when the complaint's read brought them."""
    counts = {}
    unread = getattr(complaint, selectors.UNREAD_COUNT, None)
    if unread is not None:
        counts["desk_unread_count"] = unread
    review = getattr(complaint, selectors.REVIEW_COUNT, None)
    if review is not None:
        counts["desk_review_count"] = review
    approvals = getattr(complaint, selectors.APPROVALS_COUNT, None)
    if approvals is not None:
        counts["desk_approvals_waiting"] = approvals
    return counts


def _letters(complaint: Complaint) -> dict:
    """The letters the complaint's regulatory profile gives a legal effect, while it is open."""
    profile = regulatory.get_profile(complaint.regulatory_profile)
    if profile is None or not complaint.is_open:
        return {}
    return {letter.kind: letter for letter in profile.letters}


def _acknowledgement(complaint: Complaint, clocks) -> dict:
    # The earliest of the resolve clocks (internal target or statutory deadline).
    due = min((c.due_at for c in clocks if c.kind == "resolve" and c.due_at), default=None)
    when = (
        _("by %(date)s") % {"date": timezone.localtime(due).strftime("%-d %B %Y")}
        if due
        else _("as soon as we can")
    )
    # No greeting: the email's template greets the customer ("Dear …,") above the agent's
    # words, and a greeting here too had them greeted twice.
    return {
        "message": _(
            "Thank you for telling us about this, and we are sorry it happened. Your "
            "complaint's reference is %(reference)s; please quote it if you contact us."
        )
        % {"reference": complaint.reference},
        "next_steps": _(
            "We are looking into what went wrong and will write to you with what we find "
            "and what we will do %(when)s."
        )
        % {"when": when},
    }


def _loop_closing(complaint: Complaint) -> dict:
    """The loop-closing message, pre-filled in words the customer may read.

    The customer reads it as written: the resolution summary they were sent, what was done
    for them (each remedy and the words it was offered in), and the causes by their names
    ("Duplicate charge"), never the taxonomy's path or code (``billing.duplicate-charge``),
    which are the company's filing, nor a cause's description, written for staff.
    """
    causes = _cause_names(complaint)
    prefilled = {
        "what_we_found": complaint.resolution_summary,
        "what_we_did": remedies.given_summary(complaint),
        "what_will_change": (
            _("We have recorded the cause (%(causes)s) so that the team responsible fixes it.")
            % {"causes": "; ".join(causes)}
            if causes
            else ""
        ),
    }
    # Each pre-filled text ends with a space: what the agent types after it (the caret is
    # put at the end, shortcuts.js) starts a new sentence, not "…fixes it.The gateway…".
    # The form strips it again from a text sent as it was.
    return {name: f"{text.rstrip()} " if text else "" for name, text in prefilled.items()}


def _cause_names(complaint: Complaint) -> list[str]:
    """The names of the complaint's root causes, the primary first; none that reads as a code.

    A name is typed by whoever keeps the taxonomy, and an imported one may be the code
    itself: such a name says nothing to a customer and is left out (the agent then writes
    what will change in their own words).
    """
    names = []
    for link in sorted(complaint.root_causes.all(), key=lambda link: not link.is_primary):
        name = " ".join(link.root_cause.name.split())
        reads_as_code = name == link.root_cause.code or (
            "." in name and _CODE.fullmatch(name) is not None
        )
        if name and not reads_as_code and name not in names:
            names.append(name)
    return names


_CODE = ROOT_CAUSE_CODE_VALIDATOR.regex


# -- actions -------------------------------------------------------------------------------


def posted_or_back_to_complaint(view):
    """An action's URL is only posted to; anything else goes to the complaint's page.

    The URL stays in the address bar after a form error (the page is answered to the POST), so
    a reload or a bookmark GETs it: that shows the complaint rather than a 405.
    """

    @wraps(view)
    def wrapper(request, reference: str, *args, **kwargs):
        if request.method != "POST":
            return redirect("desk:complaint", reference=reference)
        return view(request, reference, *args, **kwargs)

    return wrapper


def _action(form_name: str, form_class, run, success_message: str, *, may=None):
    """A POST-only view: validate ``form_class``, ``run(request, complaint, data)``, redirect.

    ``may(complaint, user)``: the action's own rule, asked before the form is read, so that
    someone who may not take the step is refused (403) rather than asked to fix the form.
    """

    @staff_required
    @posted_or_back_to_complaint
    def view(request, reference: str):
        complaint, refused = complaint_or_refusal(request, reference)
        if refused is not None:
            return refused
        if may is not None and not may(complaint, request.user):
            return render(
                request,
                "403.html",
                {
                    "exception": _("You may not %(action)s %(reference)s.")
                    % {"action": form_name.replace("_", " "), "reference": complaint.reference}
                },
                status=403,
            )
        form = form_class(request.POST, request.FILES, prefix=form_name)
        if not form.is_valid():
            return render_complaint(request, complaint, bound={form_name: form}, status=400)
        try:
            submissions.once(
                form,
                name=form_name,
                complaint=complaint,
                run=lambda: run(request, complaint, form),
            )
        except AlreadySent:
            # The same form posted again (a double click, back and resend): it answers as the
            # first post did, and nothing was written twice.
            messages.info(request, form.already_done)
            return redirect("desk:complaint", reference=complaint.reference)
        except RedressError as error:
            form = with_fresh_token(form)
            add_to_form(form, error)
            return rerender_after_error(
                request, reference, bound={form_name: form}, status=status_of(error)
            )
        messages.success(
            request, success_message(form) if callable(success_message) else success_message
        )
        return redirect("desk:complaint", reference=complaint.reference)

    view.__name__ = f"{form_name}_view"
    return view


def _expected(form) -> str | None:
    return form.cleaned_data.get("expected_state") or None


def with_fresh_token(form):
    """The refused form again, under a new one-time token when it has one: nothing was
    written under the old one, or it was written with other words (a ``Conflict``), and what
    the user wrote should do what it says once they fix it."""
    return form.with_fresh_token() if isinstance(form, forms.OneTimeSubmission) else form


def _once(kind: str, form) -> str:
    """The idempotency key of a form's one-time token (``forms.OneTimeSubmission``), or ""
    for a form sent without one."""
    token = form.cleaned_data.get("submission")
    return f"{kind}:{token}" if token else ""


acknowledge = _action(
    "acknowledge",
    forms.AcknowledgeForm,
    lambda request, complaint, form: lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=request.user,
        message=form.cleaned_data["message"],
        next_steps=form.cleaned_data["next_steps"],
        expected_state=_expected(form),
        idempotency_key=_once("desk-acknowledge", form),
    ),
    _("Acknowledged; the customer has been sent your message."),
)


def _reply(request, complaint, form) -> None:
    files = forms.checked_uploads(form)
    # One transaction: the reply is never sent without the files it says it carries (its
    # email is built after commit, with them: notifications.emailing).
    with transaction.atomic():
        message = message_services.message_add(
            complaint=complaint,
            actor=request.user,
            body=form.cleaned_data["body"],
            idempotency_key=_once("desk-reply", form),
        )
        attachments.attachments_add(
            complaint=complaint,
            files=files,
            source=AttachmentSource.AGENT,
            actor=request.user,
            message=message,
        )


reply = _action("reply", forms.ReplyForm, _reply, _("Reply sent to the customer."))

note = _action(
    "note",
    forms.NoteForm,
    lambda request, complaint, form: message_services.message_add(
        complaint=complaint,
        actor=request.user,
        body=form.cleaned_data["body"],
        internal=True,
        idempotency_key=_once("desk-note", form),
    ),
    _("Internal note added."),
)

hold = _action(
    "hold",
    forms.HoldForm,
    lambda request, complaint, form: sla.complaint_set_awaiting_customer(
        complaint=complaint,
        actor=request.user,
        awaiting=form.cleaned_data["awaiting"],
        reason=form.cleaned_data["reason"],
    ),
    _("Hold updated: the clocks that pause for the customer follow it."),
)

written_response = _action(
    "written_response",
    forms.WrittenResponseForm,
    lambda request, complaint, form: message_services.complaint_send_written_response(
        complaint=complaint,
        actor=request.user,
        reason=form.cleaned_data["reason"],
        expected_by=form.cleaned_data["expected_by"],
    ),
    _("Written response sent: the statutory deadline is answered; the complaint stays open."),
)

delay_notification = _action(
    "delay_notification",
    forms.DelayNotificationForm,
    lambda request, complaint, form: message_services.complaint_send_delay_notification(
        complaint=complaint,
        actor=request.user,
        reason=form.cleaned_data["reason"],
        expected_by=form.cleaned_data["expected_by"],
    ),
    _("Delay notification sent and recorded; the statutory deadline still stands."),
)

resolve = _action(
    "resolve",
    forms.ResolveForm,
    lambda request, complaint, form: lifecycle.complaint_resolve(
        complaint=complaint,
        actor=request.user,
        outcome=form.cleaned_data["outcome"],
        summary=form.cleaned_data["summary"],
        root_causes=form.root_causes(),
        primary_root_cause=form.cleaned_data["primary_root_cause"],
        expected_state=_expected(form),
    ),
    _("Resolved; the customer has been told the outcome."),
)

close_loop = _action(
    "close_loop",
    forms.CloseLoopForm,
    lambda request, complaint, form: lifecycle.complaint_close_loop(
        complaint=complaint,
        actor=request.user,
        what_we_found=form.cleaned_data["what_we_found"],
        what_we_did=form.cleaned_data["what_we_did"],
        what_will_change=form.cleaned_data["what_will_change"],
        expected_state=_expected(form),
    ),
    _("Loop closed; the customer has been sent your message."),
)

# Reopening is offered wherever the transition's permission allows it (rules.may_reopen,
# the one the API and the admin use): from resolved, and from loop_closed.
reopen = _action(
    "reopen",
    forms.ReopenForm,
    lambda request, complaint, form: lifecycle.complaint_reopen(
        complaint=complaint,
        actor=request.user,
        reason=form.cleaned_data["reason"],
        expected_state=_expected(form),
    ),
    _("Reopened: the complaint is worked again and its resolution clock restarted."),
    may=rules.may_reopen,
)

assign = _action(
    "assign",
    forms.AssignForm,
    lambda request, complaint, form: sla.complaint_assign(
        complaint=complaint,
        assignee=form.cleaned_data["assignee"],
        actor=request.user,
        reason=form.cleaned_data["reason"],
    ),
    _("Assignment changed."),
)

escalate = _action(
    "escalate",
    forms.EscalateForm,
    lambda request, complaint, form: ladder.complaint_escalate_by_hand(
        complaint=complaint,
        actor=request.user,
        direction=form.cleaned_data["direction"],
        reason=form.cleaned_data["reason"],
    ),
    _("Escalation level changed."),
)


tracking_link = _action(
    "tracking_link",
    forms.TrackingLinkForm,
    lambda request, complaint, form: tracking_links.tracking_link_reissue(
        complaint=complaint, actor=request.user, reason=form.cleaned_data["reason"]
    ),
    _("The old tracking link is revoked; the customer is emailed the new one."),
)


link_customer = _action(
    "link_customer",
    forms.LinkCustomerForm,
    lambda request, complaint, form: address_proof.complaint_customer_link(
        complaint=complaint, actor=request.user, reason=form.cleaned_data["reason"]
    ),
    _("The complaint is now on the customer's record."),
)


def _review_held_email(request, complaint, form) -> None:
    # The service finds the complaint from the held row and checks the reviewer works it;
    # the URL's complaint must be that one, so a form cannot reach another complaint's mail.
    data = form.cleaned_data
    if notifications_selectors.complaint_held_on(data["inbound"]) != complaint.pk:
        raise NotFound(f"No email was held on {complaint.reference} under that number.")
    review_held_email(request.user, form)


def review_held_email(user, form):
    """Run the decision of a valid ``HeldEmailReviewForm`` (complaint page, held-mail queue)."""
    data = form.cleaned_data
    return inbound_review.inbound_email_review(
        inbound_id=data["inbound"], actor=user, decision=data["decision"], reason=data["reason"]
    )


def _reviewed_message(form) -> str:
    decision = form.cleaned_data["decision"]
    if decision == forms.HeldEmailReviewForm.ACCEPT:
        return _(
            "The email was added as the customer's; its sender may write for them from now on."
        )
    if decision == forms.HeldEmailReviewForm.OPEN:
        return _("The email was opened as a new complaint.")
    return _("The email was discarded.")


review_held = _action("held", forms.HeldEmailReviewForm, _review_held_email, _reviewed_message)

resend_email = _action(
    "resend",
    forms.EmailResendForm,
    # The service checks the email is this complaint's, so a form cannot reach another's.
    lambda request, complaint, form: undelivered.email_resend(
        email_id=form.cleaned_data["email"], actor=request.user, complaint_id=complaint.pk
    ),
    _("The email is queued to be sent again; the timeline records it."),
)


# -- notifications -------------------------------------------------------------------------

INBOX_PAGE_SIZE = 50


@staff_required
def open_notification(request, notification_id: int):
    """Where a notification's link goes (the inbox page, staff emails): marks it read, then
    shows what it is about. A GET, as a link from an email must be; it changes only the
    reader's own read mark."""
    try:
        row = inbox.notification_open(user=request.user, notification_id=notification_id)
    except NotFound as error:
        raise Http404(error.message) from error
    if row.reference:
        return redirect("desk:complaint", row.reference)
    return redirect("desk:notifications")


@staff_required
def notification_preferences(request):
    """How I am told of each kind of notification; the API sets the same preferences."""
    preference = inbox.preferences_of(request.user)
    if request.method == "POST":
        form = forms.NotificationPreferencesForm(request.POST)
        if form.is_valid():
            inbox.preferences_update(user=request.user, changes=form.changes())
            messages.success(request, _("Your notification preferences are saved."))
            return redirect("desk:notification-preferences")
        status = 400
    else:
        form = forms.NotificationPreferencesForm(
            initial=forms.NotificationPreferencesForm.initial_of(preference)
        )
        status = 200
    return render(
        request,
        "desk/notification_preferences.html",
        {"form": form, "nav": "notifications"},
        status=status,
    )


@staff_required
def notifications(request):
    """The inbox, newest first, a page at a time; "mark all read" reads every page."""
    if request.method == "POST":
        marked = inbox.mark_read(request.user)
        messages.success(request, _("%(count)s notifications marked as read.") % {"count": marked})
        return redirect("desk:notifications")
    last_event_id = selectors.latest_event_id()
    cursor = inbox_page.InboxCursorForm(request.GET)
    page = inbox.inbox_page(request.user, size=INBOX_PAGE_SIZE, **cursor.cursor())
    return render(
        request,
        "desk/notifications.html",
        {
            "rows": page.rows,
            "page": page,
            "first_page": not cursor.cursor(),
            "problem": cursor.problem(),
            "nav": "notifications",
            "last_event_id": last_event_id,
        },
    )
