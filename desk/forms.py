"""Forms of the web pages: each field checked with a message a person can act on.

The services check again (they are called by the API, imports and scripts too); these forms
exist so that a mistake is shown next to the field it concerns, with what was typed kept.
"""

import secrets
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.template.defaultfilters import filesizeformat
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from common.errors import ValidationFailed
from common.text import validate_single_line
from desk.selectors import QueueQuery
from escalation import regulatory
from recovery import field_rules, roles
from recovery import selectors as recovery_selectors
from recovery.models import (
    Category,
    Channel,
    Outcome,
    QueueColumn,
    QueueScope,
    Severity,
    State,
    Touchpoint,
)
from recovery.models.complaints import DESCRIPTION_MAX_CHARS, MESSAGE_MAX_CHARS
from recovery.models.remedies import RecoveryType
from recovery.services import attachments, intake, remedies

# Shown for a field left empty, naming what to write rather than "This field is required."
REQUIRED = {
    "name": _("Tell us your name, so we know how to address you."),
    "email": _("Give your email address: it is how we will reply to you."),
    "description": _("Tell us what happened."),
}
# Dates before this many years ago are almost always typing mistakes (1924 for 2024).


def new_submission_token() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits: not guessed, not repeated


def _upload_help_text() -> str:
    # Read when the form is shown, not at import: the limit is a setting.
    return str(
        _(
            "Optional. Photos, scans or documents: PDF, PNG, JPEG, GIF, WebP, text, .eml, "
            "Word or Excel; up to %(size)s each."
        )
        % {"size": filesizeformat(settings.REDRESS_ATTACHMENT_MAX_BYTES)}
    )


_upload_help = lazy(_upload_help_text, str)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Any number of files from one input (Django's documented pattern), each bounded in
    size before it is read; what the bytes are is decided by the service
    (``recovery.services.attachments.upload_check``), not here."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Attach files"))
        kwargs.setdefault("help_text", _upload_help())
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = [super(AttachmentsField, self).clean(one, initial) for one in files]
        most = settings.REDRESS_ATTACHMENTS_PER_COMPLAINT
        if len(cleaned) > most:
            raise forms.ValidationError(
                _("Choose at most %(most)s files at once.") % {"most": most}
            )
        problems = [
            attachments.size_problem(upload.name, upload.size) for upload in cleaned if upload
        ]
        problems = [problem for problem in problems if problem]
        if problems:
            raise forms.ValidationError(problems)
        cleaned = [upload for upload in cleaned if upload]
        total = sum(upload.size for upload in cleaned)
        if total > settings.REDRESS_ATTACHMENTS_TOTAL_BYTES:
            raise forms.ValidationError(
                _("These files take %(total)s in all; one complaint's files may take %(most)s.")
                % {
                    "total": filesizeformat(total),
                    "most": filesizeformat(settings.REDRESS_ATTACHMENTS_TOTAL_BYTES),
                }
            )
        return cleaned


def checked_uploads(form, field: str = "attachments") -> list:
    """The form's uploads, each checked from its bytes (type, size, virus scan).

    ``ValidationFailed`` naming every file refused (on ``field``) and saying that nothing was
    sent and what was written is kept: ``common.form_errors.add_to_form`` shows it."""
    checked, refused = [], []
    for upload in form.cleaned_data.get(field) or []:
        try:
            checked.append(attachments.upload_check(name=upload.name, content=upload.read()))
        except ValidationFailed as error:
            refused.append(error.message)
    if refused:
        raise ValidationFailed(
            str(
                _(
                    "Nothing was sent yet: a file could not be accepted (see below). What you "
                    "wrote is kept; choose the files again, without the one refused."
                )
            ),
            details={field: refused},
        )
    return checked


class ComplaintForm(forms.Form):
    """The public complaint form."""

    name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        # The name opens every email's greeting: a line break in it would break the body.
        validators=[validate_single_line],
        error_messages={"required": REQUIRED["name"]},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        error_messages={
            "required": REQUIRED["email"],
            "invalid": _("Enter an email address like name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    description = forms.CharField(
        label=_("What happened?"),
        help_text=_("Tell us in your own words: what went wrong, and how it affected you."),
        max_length=DESCRIPTION_MAX_CHARS,
        error_messages={"required": REQUIRED["description"]},
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    occurred_on = forms.DateField(
        label=_("When did it happen?"),
        help_text=_("The date, if you know it."),
        required=False,
        error_messages={"invalid": _("Enter a date like 2026-03-31.")},
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    touchpoint = forms.ModelChoiceField(
        label=_("Where did it happen?"),
        queryset=Touchpoint.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label=_("Not sure / somewhere else"),
        error_messages={"invalid_choice": _("Choose one of the places in the list.")},
    )
    category = forms.ModelChoiceField(
        label=_("What is it about?"),
        queryset=Category.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label=_("Not sure / something else"),
        error_messages={"invalid_choice": _("Choose one of the subjects in the list.")},
    )
    remedy_sought = forms.CharField(
        label=_("What would you like us to do?"),
        help_text=_("For example: a refund, a replacement, an apology, a call back."),
        max_length=MESSAGE_MAX_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    attachments = AttachmentsField()
    # A trap for form-filling robots: hidden from people by the stylesheet, so only a
    # script that fills in every field it finds puts something here.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    # One token per rendering of the form: a double-click sends it twice, and the second
    # submit answers with the first complaint (the intake's idempotency key). Optional, so
    # a form rendered before this field existed still files.
    submission = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$")],
        error_messages={"invalid": _("This form is damaged; reload the page and send it again.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["submission"].initial = new_submission_token()
        self.fields["touchpoint"].queryset = Touchpoint.objects.filter(is_active=True)
        self.fields["category"].queryset = Category.objects.filter(is_active=True)
        for name in ("name", "email", "description"):
            self.fields[name].widget.attrs["aria-required"] = "true"

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(REQUIRED["name"])
        return name

    def clean_description(self) -> str:
        text = self.cleaned_data["description"].strip()
        if not text:
            raise forms.ValidationError(REQUIRED["description"])
        return text

    def clean_occurred_on(self):
        day = self.cleaned_data["occurred_on"]
        problem = field_rules.occurred_on_problem(day)
        if problem:
            raise forms.ValidationError(problem)
        return day

    @property
    def is_spam(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    def subject(self) -> str:
        # The form asks for no subject: it is made from the start of the story.
        return intake.subject_from_description(self.cleaned_data["description"])


class CustomerReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your message"),
        max_length=MESSAGE_MAX_CHARS,
        error_messages={"required": _("Write your message before sending it.")},
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    attachments = AttachmentsField()
    # One token per rendering, as on the complaint form: the same form posted again (a
    # double click, back and resubmit, a refresh) finds the message it sent
    # (recovery.services.messages.customer_message_add). Optional, so a page rendered
    # before this field existed still sends.
    submission = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$")],
        error_messages={"invalid": _("This form is damaged; reload the page and send it again.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["submission"].initial = new_submission_token()

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError(_("Write your message before sending it."))
        return body


class EscalationRequestForm(forms.Form):
    reason = forms.CharField(
        label=_("Why should a manager look at it?"),
        max_length=5_000,
        error_messages={"required": _("Tell us why you are asking for escalation.")},
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class StateField(forms.ChoiceField):
    """The state the page showed, sent back so a change made meanwhile is a conflict."""

    def __init__(self, **kwargs):
        super().__init__(choices=State.choices, required=False, widget=forms.HiddenInput, **kwargs)


def _text(label, *, rows=4, help_text="", required_message=None, max_length=MESSAGE_MAX_CHARS):
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=max_length,
        error_messages={"required": required_message or _("This cannot be empty.")},
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class OneTimeSubmission(forms.Form):
    """A desk form that changes something: one token per rendering, so the same form posted
    again (a double click, back and resend, two tabs at once) is told it was already done
    rather than doing it twice (``desk.submissions.once``). The token is made, never read,
    when the page is shown. Optional, so a page rendered before this field existed still
    sends."""

    # Said to whoever posts the form again: the first post did it, this one did nothing.
    already_done = _("Already sent; it was not sent again.")

    submission = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$")],
        error_messages={"invalid": _("This form is damaged; reload the page and send it again.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["submission"].initial = new_submission_token()

    def with_fresh_token(self):
        """This valid form again, under a new token: for a form refused (nothing was done
        under its token, or the token was used with other words) that should do what it
        says once fixed."""
        resent = self.data.copy()
        resent[self.add_prefix("submission")] = new_submission_token()
        fresh = type(self)(resent, self.files, prefix=self.prefix)
        fresh.is_valid()  # it was: only the token is new
        return fresh


class AcknowledgeForm(OneTimeSubmission):
    expected_state = StateField()
    message = _text(
        _("Acknowledgement to the customer"),
        rows=5,
        help_text=_("It must name the complaint's reference."),
        required_message=_("Write the acknowledgement to the customer."),
    )
    next_steps = _text(
        _("What happens next"),
        rows=3,
        required_message=_("Tell the customer what happens next."),
    )


class ReplyForm(OneTimeSubmission):
    body = _text(_("Reply to the customer"), required_message=_("Write the reply first."))
    attachments = AttachmentsField(
        help_text=_("Optional. Sent with the email and shown on the customer's tracking page.")
    )


class NoteForm(OneTimeSubmission):
    body = _text(
        _("Internal note"),
        rows=3,
        help_text=_(
            "Only staff see notes. Write @ and a username to tell a colleague who may see "
            "this complaint."
        ),
        required_message=_("Write the note first."),
    )


class HoldForm(OneTimeSubmission):
    already_done = _("Already done by this form; the hold was not changed again.")
    awaiting = forms.TypedChoiceField(
        choices=[("1", "on"), ("0", "off")],
        coerce=lambda value: value == "1",
        widget=forms.HiddenInput,
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class WrittenResponseForm(OneTimeSubmission):
    already_done = _("Written response already sent by this form; it was not sent again.")
    reason = _text(
        _("Why there is no final response yet"),
        rows=4,
        required_message=_("Say why there is no final response yet."),
    )
    expected_by = forms.DateField(
        label=_("Final response expected by"),
        error_messages={
            "required": _("Say when the final response is expected."),
            "invalid": _("Enter a date like 2026-06-30."),
        },
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class DelayNotificationForm(OneTimeSubmission):
    already_done = _("Delay notification already sent by this form; it was not sent again.")
    reason = _text(
        _("Why the response is delayed"),
        rows=4,
        required_message=_("Say why the response is delayed."),
    )
    expected_by = forms.DateField(
        label=_("Response expected by"),
        help_text=_("If you know it."),
        required=False,
        error_messages={"invalid": _("Enter a date like 2026-06-30.")},
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class HeldEmailReviewForm(OneTimeSubmission):
    """What to do with an email held on the complaint (notifications.inbound_review)."""

    already_done = _("Already decided by this form; nothing was done again with the email.")

    ACCEPT, OPEN, DISCARD = "accept", "open", "discard"

    inbound = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        choices=[
            (ACCEPT, _("Accept as the customer's contact")),
            (OPEN, _("Open as a new complaint")),
            (DISCARD, _("Discard")),
        ],
        error_messages={"required": _("Choose what to do with the email.")},
    )
    reason = forms.CharField(
        label=_("Why (kept on the timeline)"),
        help_text=_("Required to discard: the email then reaches no complaint."),
        max_length=500,
        required=False,
    )

    def clean(self):
        data = super().clean()
        # Accepting or opening leaves the email on a complaint for anyone to read; a discard
        # leaves only the reason, so it must say why.
        if data.get("decision") == self.DISCARD and not " ".join(data.get("reason", "").split()):
            self.add_error("reason", _("Say why the email is discarded."))
        return data


class EmailResendForm(OneTimeSubmission):
    """Send a failed customer email again (notifications.undelivered)."""

    already_done = _("Already queued again by this form; it was not queued a second time.")

    email = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class ResolveForm(OneTimeSubmission):
    already_done = _("Already resolved by this form; nothing was done again.")
    expected_state = StateField()
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=Outcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the outcome.")},
    )
    primary_root_cause = forms.ChoiceField(
        label=_("Primary root cause"),
        error_messages={
            "required": _("Choose the primary root cause."),
            "invalid_choice": _("Choose a root cause from the list."),
        },
    )
    # Ticked, not Ctrl-clicked: with the page's script, both are one type-ahead picker
    # (static/redress/js/root-cause-picker.js); without it, these still submit.
    contributing_root_causes = forms.MultipleChoiceField(
        label=_("Contributing root causes"),
        help_text=_("Optional; tick each cause that also played a part."),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Choose root causes from the list.")},
    )
    summary = _text(
        _("Resolution summary"),
        rows=4,
        required_message=_("Summarise the resolution."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = root_cause_choices()
        self.fields["primary_root_cause"].choices = [("", _("Choose a root cause")), *choices]
        self.fields["contributing_root_causes"].choices = choices

    def contributing_groups(self) -> list[tuple[str, list[tuple[str, str, bool]], bool]]:
        return root_cause_groups(self["contributing_root_causes"])

    def root_causes(self) -> list[str]:
        primary = self.cleaned_data["primary_root_cause"]
        others = [c for c in self.cleaned_data["contributing_root_causes"] if c != primary]
        return [primary, *others]


def root_cause_groups(field) -> list[tuple[str, list[tuple[str, str, bool]], bool]]:
    """A bound field of grouped root-cause choices (``root_cause_choices``) as the picker's
    checkboxes (desk/root_cause_picker.html): (name, [(code, path, ticked)], any ticked),
    ticked as the form was sent or first filled."""
    ticked = {str(code) for code in (field.value() or [])}
    groups = []
    for group, options in field.field.choices:
        boxes = [(code, path, code in ticked) for code, path in options]
        groups.append((group, boxes, any(box[2] for box in boxes)))
    return groups


def root_cause_choices() -> list:
    """The active taxonomy as grouped choices: ``[(top name, [(code, path), …]), …]``, from
    the taxonomy held in memory (``recovery.selectors.root_causes_by_code``)."""
    by_code = recovery_selectors.root_causes_by_code()
    causes = [by_code[code] for code in sorted(by_code)]
    groups: dict[str, list] = {}
    for cause in causes:
        if cause.is_active:
            groups.setdefault(cause.code.split(".")[0], []).append((cause.code, cause.path))
    return [
        (by_code[top].name if top in by_code else top, options) for top, options in groups.items()
    ]


class CloseLoopForm(OneTimeSubmission):
    expected_state = StateField()
    what_we_found = _text(_("What we found"), required_message=_("Say what you found."))
    what_we_did = _text(_("What we did for you"), required_message=_("Say what you did."))
    what_will_change = _text(
        _("What will change"),
        help_text=_("What the company changes so that it does not happen again."),
        required_message=_("Say what will change, so it does not happen again."),
    )


class ReopenForm(OneTimeSubmission):
    already_done = _("Already reopened by this form; nothing was done again.")
    expected_state = StateField()
    reason = _text(
        _("Why it is reopened"),
        rows=3,
        help_text=_("Kept on the timeline and counted in the reopen rate."),
        required_message=_("Say why the complaint is reopened."),
    )


class AssignForm(OneTimeSubmission):
    already_done = _("Already assigned by this form; nothing was done again.")
    assignee = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("Nobody (back to the team queue)"),
        error_messages={"invalid_choice": _("Choose a member of staff from the list.")},
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = roles.staff_members().order_by("username")
        self.fields["assignee"].label_from_instance = staff_label

    def choose_from(self, staff: list) -> None:
        """Offer ``staff`` (read with the page) rather than reading the queryset to render
        the list; what is posted is still checked against the queryset."""
        field = self.fields["assignee"]
        field.choices = [("", field.empty_label)] + [(user.pk, staff_label(user)) for user in staff]


def staff_label(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username


class TrackingLinkForm(OneTimeSubmission):
    already_done = _("A new link was already sent by this form; it was not sent again.")
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1_000,
        help_text=_("Kept on the timeline. The customer is emailed the new link."),
        error_messages={"required": _("Say why the link is revoked.")},
    )


class LinkCustomerForm(OneTimeSubmission):
    already_done = _("Already linked by this form; nothing was done again.")
    reason = forms.CharField(
        label=_("How you checked"),
        max_length=1_000,
        help_text=_("Kept on the timeline, for staff only."),
        error_messages={"required": _("Say how you checked that the complaint is theirs.")},
    )


class MergeForm(OneTimeSubmission):
    """Merge a duplicate into the complaint the page shows; posted twice: once to see both
    complaints side by side, and again, with ``confirm``, to merge (``desk.merge``)."""

    already_done = _("Already merged by this form; nothing was done again.")

    duplicate = forms.CharField(
        label=_("Reference of the duplicate"),
        max_length=32,
        help_text=_(
            "The other complaint about the same thing, such as RDR-2026-000123. It is "
            "withdrawn as a duplicate; its messages are copied here."
        ),
        error_messages={"required": _("Give the duplicate's reference.")},
    )
    reason = forms.CharField(
        label=_("Why they are one complaint"),
        max_length=5_000,
        help_text=_("Kept on both timelines."),
        error_messages={"required": _("Say why the two are one complaint.")},
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_duplicate(self) -> str:
        return " ".join(self.cleaned_data["duplicate"].split()).upper()


class EscalateForm(OneTimeSubmission):
    already_done = _("Already escalated by this form; the level was not changed again.")
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=[("up", _("Up one level")), ("down", _("Down one level"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose up or down.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=5_000,
        error_messages={"required": _("Give a reason for the escalation.")},
    )


QUEUE_STATES = [
    ("open", _("Open")),
    *State.choices,
    ("all", _("All states")),
    # Not a state: resolved or loop-closed complaints the customer wrote on since.
    ("customer_replied", _("Customer replied after closing")),
]
# The queue's orders besides urgency (the default, "": most urgent first).
QUEUE_SORTS = [
    ("", _("Most urgent first")),
    ("newest", _("Newest first")),
    ("oldest", _("Oldest first")),
]
RISKS = [("", _("Any")), ("breached", _("Breached")), ("at_risk", _("At risk or breached"))]


# Any of "me", "none" or a username (Django's username characters); the queue's assignee
# cells link to their person's filter.
ASSIGNEE_VALUE = RegexValidator(
    r"^(me|none|[\w.@+-]{1,150})$",
    _("Choose Me, Unassigned or a person's username."),
)


class QueueFilterForm(forms.Form):
    """The queue's filters, as GET parameters so that a filtered queue can be bookmarked.

    The choices are the configuration held in memory (teams, categories, with
    ``desk.selectors.queue_filter_choices``) and the code's own lists (states, channels,
    severities, regulatory profiles). A wrong value is a message on the page, not a 500; the
    other filters still apply."""

    q = forms.CharField(
        label=_("Search"),
        help_text=_(
            "Reference, customer name, email or telephone, words of the complaint and its "
            "messages, or a root cause's name."
        ),
        max_length=200,
        required=False,
    )
    state = forms.ChoiceField(
        label=_("State"),
        choices=QUEUE_STATES,
        required=False,
        error_messages={"invalid_choice": _("There is no state called “%(value)s”.")},
    )
    risk = forms.ChoiceField(
        label=_("Deadline"),
        choices=RISKS,
        required=False,
        error_messages={"invalid_choice": _("“%(value)s” is not a deadline filter.")},
    )
    team = forms.TypedChoiceField(
        label=_("Team"),
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": _("There is no team with the id “%(value)s”.")},
    )
    assignee = forms.CharField(
        label=_("Assignee"), max_length=150, required=False, validators=[ASSIGNEE_VALUE]
    )
    category = forms.TypedChoiceField(
        label=_("Category"),
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": _("There is no category with the id “%(value)s”.")},
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[("", _("Any channel")), *Channel.choices],
        required=False,
        error_messages={"invalid_choice": _("There is no channel called “%(value)s”.")},
    )
    severity = forms.ChoiceField(
        label=_("Severity"),
        choices=[("", _("Any severity")), *Severity.choices],
        required=False,
        error_messages={"invalid_choice": _("There is no severity called “%(value)s”.")},
    )
    profile = forms.ChoiceField(
        label=_("Regulatory profile"),
        choices=[
            ("", _("Any profile")),
            ("none", _("No regulatory profile")),
            *regulatory.PROFILE_CHOICES,
        ],
        required=False,
        error_messages={"invalid_choice": _("There is no regulatory profile “%(value)s”.")},
    )
    root_cause = forms.ChoiceField(
        label=_("Root cause"),
        required=False,
        error_messages={"invalid_choice": _("There is no root cause with the code “%(value)s”.")},
    )
    sort = forms.ChoiceField(
        label=_("Sort"),
        choices=QUEUE_SORTS,
        required=False,
        error_messages={"invalid_choice": _("The queue cannot be sorted by “%(value)s”.")},
    )
    # 200 pages of 50: deeper than anyone pages, and it bounds the OFFSET a request can ask for.
    page = forms.IntegerField(
        min_value=1,
        max_value=200,
        required=False,
        error_messages={
            "min_value": _("Pages are numbered from 1."),
            "max_value": _("The queue shows its first 200 pages; filter or search for more."),
            "invalid": _("A page is a number."),
        },
    )

    def __init__(self, *args, teams=(), categories=(), root_causes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", _("Any team")), *teams]
        self.fields["category"].choices = [("", _("Any category")), *categories]
        # (id, code, name, parent id) rows, by code: offered by code and name.
        self.root_causes = tuple(root_causes)
        self.fields["root_cause"].choices = [
            ("", _("Any root cause")),
            *((code, f"{code} — {name}") for _pk, code, name, _parent in root_causes),
        ]

    def queue_query(self, scope: str):
        """The queue this form asks for (``desk.selectors.QueueQuery``): the fields that
        passed, the defaults for the others. Call ``is_valid()`` first."""
        data = self.cleaned_data
        return QueueQuery(
            scope=scope,
            q=(data.get("q") or "").strip(),
            state=data.get("state") or "open",
            risk=data.get("risk") or "",
            team=data.get("team"),
            assignee=data.get("assignee") or "",
            category=data.get("category"),
            channel=data.get("channel") or "",
            severity=data.get("severity") or "",
            profile=data.get("profile") or "",
            root_cause=data.get("root_cause") or "",
            causes=self.root_causes,
            sort=data.get("sort") or "",
        )

    def assignee_choices(self, name: str | None = None) -> list[tuple[str, str]]:
        """Anyone, Me, Unassigned, and the person chosen by a link, if any, by ``name``
        (their full name; their username when not given)."""
        choices = [("", str(_("Anyone"))), ("me", str(_("Me"))), ("none", str(_("Unassigned")))]
        chosen = (self.data.get("assignee") or "").strip()
        if chosen and chosen not in ("me", "none") and "assignee" not in self.errors:
            choices.append((chosen, name or chosen))
        return choices


class SavedViewForm(forms.Form):
    """Save the queue as it is filtered, under a name (the filters travel as the queue's
    own GET parameters, checked with ``QueueFilterForm``)."""

    name = forms.CharField(
        label=_("Name of the view"),
        max_length=80,
        error_messages={"required": _("Give the view a name.")},
    )
    scope = forms.ChoiceField(
        label=_("Queue"),
        choices=QueueScope.choices,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("There is no queue called “%(value)s”.")},
    )
    columns = forms.MultipleChoiceField(
        label=_("Columns"),
        help_text=_("The reference is always shown. None ticked shows them all."),
        choices=QueueColumn.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("The queue has no column “%(value)s”.")},
    )
    # Not "team": the queue's own team filter travels in the same form, as "team".
    share_with = forms.TypedChoiceField(
        label=_("Share with a team"),
        help_text=_("Supervisors may share a view with a team they are on."),
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": _("There is no team with the id “%(value)s”.")},
    )

    def __init__(self, *args, teams=(), offered=(), **kwargs):
        super().__init__(*args, **kwargs)
        share_with = self.fields["share_with"]
        # Every team is a valid choice, so that the save says why one not offered (from a
        # stale or hand-made form) is refused; only ``offered`` are listed.
        share_with.choices = [("", _("Only me")), *teams]
        share_with.widget.choices = [("", _("Only me")), *offered]


class RecoveryOfferForm(OneTimeSubmission):
    already_done = _("Already offered by this form; it was not offered again.")
    type = forms.ChoiceField(
        label=_("Remedy"),
        choices=[("", _("Choose a remedy")), *RecoveryType.choices],
        error_messages={"required": _("Choose the remedy to offer.")},
    )
    # Text, not a number input: a browser empties a number field it cannot hold (1e309) or
    # read ("inf"), and the server then saw no amount at all. The service's parser says
    # precisely what is wrong with what was typed.
    amount = forms.CharField(
        label=_("Amount"),
        help_text=_("For refunds, credits and goodwill: the sum, like 25.00."),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.CharField(
        label=_("Currency"),
        help_text=_("Three letters, such as GBP or EUR."),
        required=False,
        max_length=3,
    )
    description = forms.CharField(
        label=_("What you offer, in words"),
        required=False,
        max_length=MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    deviation_reason = forms.CharField(
        label=_("Why not what the guide suggests?"),
        help_text=_("Only when you offer something other than the recovery guide's suggestion."),
        required=False,
        max_length=MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, guided: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not guided:
            # No guideline for the complaint's cause: no suggestion to depart from.
            del self.fields["deviation_reason"]

    def clean_amount(self) -> Decimal | None:
        try:
            return remedies.parse_amount(self.cleaned_data["amount"].strip())
        except ValidationFailed as error:
            raise forms.ValidationError(error.message) from None

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()


class DecisionForm(OneTimeSubmission):
    already_done = _("Already decided by this form; nothing was done again.")
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("decline", _("Decline"))],
        widget=forms.HiddenInput,
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MESSAGE_MAX_CHARS,
        error_messages={"required": _("Say why: the reason goes on the timeline.")},
    )


class DeliverForm(forms.Form):
    note = forms.CharField(label=_("Delivery note"), required=False, max_length=MESSAGE_MAX_CHARS)


def _scale(name, label, low, high, low_word, high_word):
    return forms.TypedChoiceField(
        label=label,
        help_text=_("%(low)s = %(low_word)s, %(high)s = %(high_word)s")
        % {"low": low, "high": high, "low_word": low_word, "high_word": high_word},
        choices=[(str(n), str(n)) for n in range(low, high + 1)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}
        },
    )


class SurveyForm(forms.Form):
    csat = _scale(
        "csat",
        _("How satisfied are you with how we handled your complaint?"),
        1,
        5,
        _("very dissatisfied"),
        _("very satisfied"),
    )
    ces = _scale(
        "ces",
        _("How easy was it to get your complaint resolved?"),
        1,
        7,
        _("very difficult"),
        _("very easy"),
    )
    nps = _scale(
        "nps",
        _("How likely are you to recommend us to a friend?"),
        0,
        10,
        _("not at all likely"),
        _("extremely likely"),
    )
    comment = forms.CharField(
        label=_("Anything else you want to tell us?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class NotificationPreferencesForm(forms.Form):
    """How a member of staff is told of each kind of notification (notifications.kinds)."""

    # "" keeps no choice for the kind: the general switches decide (the API sets those).
    GENERAL = ("", _("As my general settings (in the inbox and live, unless changed)"))

    time_zone = forms.ChoiceField(
        label=_("My time zone"),
        help_text=_("Daily digests arrive at 08:00 on this clock."),
    )

    def __init__(self, *args, **kwargs):
        from zoneinfo import available_timezones

        from notifications.kinds import Kind, Telling

        super().__init__(*args, **kwargs)
        zones = sorted(available_timezones())
        self.fields["time_zone"].choices = [(zone, zone) for zone in zones]
        for kind in Kind:
            self.fields[f"kind_{kind.value}"] = forms.ChoiceField(
                label=kind.label,
                choices=[self.GENERAL, *Telling.choices],
                required=False,
                widget=forms.RadioSelect,
            )
        self.order_fields([f"kind_{kind.value}" for kind in Kind] + ["time_zone"])

    @classmethod
    def initial_of(cls, preference) -> dict:
        return {
            "time_zone": preference.time_zone,
            **{f"kind_{kind}": telling for kind, telling in (preference.by_kind or {}).items()},
        }

    def changes(self) -> dict:
        """The preference fields to save, from the cleaned form."""
        from notifications.kinds import Kind

        by_kind = {
            kind.value: self.cleaned_data[f"kind_{kind.value}"]
            for kind in Kind
            if self.cleaned_data.get(f"kind_{kind.value}")
        }
        return {"by_kind": by_kind, "time_zone": self.cleaned_data["time_zone"]}
