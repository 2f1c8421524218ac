"""Rendering customer emails from editable templates, checking them, and previewing them."""

import re
from datetime import timedelta

from django.conf import settings
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.email_html import normalise_line_endings, text_to_html
from notifications.models import MessageTemplate, MessageTemplateKind
from recovery.models import Channel, Complaint, Customer, Outcome

# A private engine: templates edited in the admin get none of the project's template
# directories or context processors. It renders text, so nothing is escaped; the HTML part
# is made from the rendered text (notifications.email_html), which escapes all of it.
_TEXT_ENGINE = Engine(autoescape=False)
DEFAULT_LANGUAGE = "en"
# The parts of a template an editor writes.
_PARTS = ("subject", "body_text")
# Every subject begins with this variable: see ``thread_subject``.
THREAD_SUBJECT = "{{ thread_subject }}"
# What mail programs put before a subject they answer or forward ("Re:", "Fwd:", "AW:",
# "Re[2]:"), and our own reference tag: a complaint opened from a reply keeps neither.
_ANSWERED_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|tr|rif)\s*(?:\[\d+\])?\s*:|\[RDR-\d{4}-\d{6}\])\s*",
    re.IGNORECASE,
)


class TemplateMissing(Exception):
    pass


def find_template(kind: str, language: str, profile: str) -> MessageTemplate:
    """The most specific template: profile+language, language, then the default language."""
    candidates = MessageTemplate.objects.filter(
        kind=kind, language__in={language, DEFAULT_LANGUAGE}, regulatory_profile__in={profile, ""}
    )

    def rank(template: MessageTemplate) -> tuple[int, int]:
        return (
            0 if template.regulatory_profile == profile else 1,
            0 if template.language == language else 1,
        )

    found = sorted(candidates, key=rank)
    if not found:
        raise TemplateMissing(f"No {kind} template for language {language!r}.")
    return found[0]


def thread_subject(reference: str, subject: str) -> str:
    """The one subject of every email about a complaint: ``[RDR-2026-000123] <its subject>``.

    Gmail puts two emails in one conversation only when their subjects match (less "Re:"),
    whatever ``References`` says; a subject per kind of email ("We have received…", "Our
    response…") split one complaint into as many conversations. So every email about a
    complaint carries this subject and the kind of email is said in its text. It is made of
    the reference and the complaint's subject as received, less any "Re:"/"Fwd:" and
    reference tag at its start, so it stays the same however the customer answers.
    """
    previous = None
    while previous != subject:
        previous, subject = subject, _ANSWERED_PREFIX.sub("", subject)
    subject = " ".join(subject.split())
    return f"[{reference}] {subject}" if subject else f"[{reference}]"


def render(template: MessageTemplate, context: dict) -> tuple[str, str, str]:
    """Subject, text body and HTML body of ``template`` with ``context``.

    The text is the template's one wording; the HTML says the same, escaped and laid out
    (``notifications.email_html``), so the two parts of an email can never disagree.
    """
    subject = " ".join(_render_part(template.subject, context).split())
    # One kind of line ending in both parts: an agent's message typed in a browser has \r\n.
    text = normalise_line_endings(_render_part(template.body_text, context)).strip() + "\n"
    html = text_to_html(text, subject=subject, language=template.language)
    return subject, text, html


def _render_part(source: str, context: dict) -> str:
    # A Context escapes by default whatever its engine says: text rendered with one reached
    # customers as "O&#x27;Brien &amp; Co". Text is never escaped.
    return _TEXT_ENGINE.from_string(source).render(Context(context, autoescape=False))


def template_errors(template: MessageTemplate) -> dict[str, str]:
    """Why each part of ``template`` would fail to render, by field name (empty: it renders).

    Parts are compiled and rendered with a sample complaint: a syntax error, an unknown tag
    or filter, or an ``{% include %}`` of a template this private engine cannot load would
    otherwise surface only when a customer's email is due.
    """
    context = sample_context(template.kind, template.regulatory_profile)
    errors = {}
    for name in _PARTS:
        source = getattr(template, name) or ""
        try:
            rendered = _render_part(source, context)
        except (TemplateSyntaxError, TemplateDoesNotExist) as exc:
            errors[name] = _("This template does not work: %(error)s") % {"error": exc}
            continue
        if name == "subject" and not " ".join(rendered.split()).startswith(
            context["thread_subject"]
        ):
            errors[name] = _(
                "Begin the subject with %(variable)s: every email about a complaint carries "
                "the same subject, or mail programs such as Gmail show each in a conversation "
                "of its own. Say what kind of email it is in the text."
            ) % {"variable": THREAD_SUBJECT}
    return errors


# What the sample complaint's message says, per kind of email (the agent's words in a real one).
_SAMPLE_MESSAGES = {
    MessageTemplateKind.ACKNOWLEDGEMENT: "Thank you for telling us. We are looking into it "
    "and will reply within five working days.",
    MessageTemplateKind.HOLDING: "We need a little more time to finish looking into your "
    "complaint; we will write again by the end of next week.",
    MessageTemplateKind.WRITTEN_RESPONSE: "We are still waiting for the card network's records "
    "of the two payments, which we need to decide your complaint.\n\nWe expect to send you our "
    "final response by 30 June 2026.",
    MessageTemplateKind.DELAY_NOTIFICATION: "We need the statements of the account you paid "
    "from, which your other bank has not yet sent us.\n\nWe expect to send you our response by "
    "30 June 2026.",
    MessageTemplateKind.LOOP_CLOSING: "We found a fault in how refunds were matched to "
    "orders, fixed it, and checked every order placed since it started.",
    MessageTemplateKind.REPLY: "Could you send us the date on your bank statement?",
}


# The sample customer's name has every character that escaping would mangle, and a letter
# outside ASCII: the preview shows it literal in the text part and escaped in the HTML part,
# which is what a real customer called O'Brien gets.
SAMPLE_CUSTOMER_NAME = 'Zoë O\'Brien & Sons <"quotes">'


def email_context(
    *,
    complaint: Complaint,
    subject_as_received: str,
    message: str,
    outcome: str,
    resolution_summary: str,
    tracking_url: str,
    survey_url: str = "",
    confirm_url: str = "",
    recovery: str = "",
    recovery_approved: bool = False,
    duplicate_reference: str = "",
) -> dict:
    """The variables a customer email's template is rendered with: the one list, given a
    real complaint by ``notifications.delivery`` and a made-up one by ``sample_context``."""
    return {
        "complaint": complaint,
        "customer": complaint.customer,
        "reference": complaint.reference,
        # The subject as received, not as corrected since: a corrected subject would start a
        # new conversation in the customer's mail program.
        "thread_subject": thread_subject(complaint.reference, subject_as_received),
        "message": message,
        "outcome": Outcome(outcome).label if outcome in Outcome.values else outcome,
        "resolution_summary": resolution_summary,
        "tracking_url": tracking_url,
        "survey_url": survey_url,
        # Only while the complaint waits on a provisional record: the receipt asks the
        # address's owner to confirm it is theirs (recovery.services.address_proof).
        "confirm_url": confirm_url,
        # A recovery decided after the loop was closed ("refund £80.00"), and whether it was
        # approved (else declined): the recovery decision email.
        "recovery": recovery,
        "recovery_approved": recovery_approved,
        # The complaint merged into this one as its duplicate: the merge email.
        "duplicate_reference": duplicate_reference,
    }


def sample_email_text(kind: str, message: str, *, customer_name: str) -> str:
    """The text part of a ``kind`` email (the default language's, no regulatory profile)
    saying ``message`` to a made-up complaint by ``customer_name``: what the template puts
    around an agent's words (the greeting, the sign-off). "" when there is no template."""
    try:
        template = find_template(kind, DEFAULT_LANGUAGE, "")
    except TemplateMissing:
        return ""
    context = sample_context(kind, "")
    context["customer"].name = customer_name
    context["message"] = message
    try:
        return render(template, context)[1]
    except (TemplateSyntaxError, TemplateDoesNotExist):
        return ""


def sample_reference() -> str:
    """The made-up complaint's reference, for text filled in before it is rendered."""
    return f"RDR-{timezone.now().year}-000123"


def sample_context(kind: str, profile: str) -> dict:
    """The context an email is rendered with, for a made-up complaint (nothing is saved)."""
    now = timezone.now()
    customer = Customer(name=SAMPLE_CUSTOMER_NAME, email="zoe.obrien@example.com")
    complaint = Complaint(
        reference=sample_reference(),
        customer=customer,
        channel=Channel.EMAIL,
        subject="Charged twice for one order",
        description="I was charged twice for order 4411; please refund the duplicate.",
        regulatory_profile=profile,
        outcome=Outcome.UPHELD,
        resolution_summary="We refunded the duplicate charge of £42.00 to your card.",
        received_at=now - timedelta(days=3),
    )
    return email_context(
        complaint=complaint,
        subject_as_received=complaint.subject,
        message=_SAMPLE_MESSAGES.get(kind, ""),
        outcome=Outcome.UPHELD,
        resolution_summary=complaint.resolution_summary,
        tracking_url=f"{settings.REDRESS_PUBLIC_URL}/track/sample-tracking-link/",
        survey_url=f"{settings.REDRESS_PUBLIC_URL}/survey/sample-survey-link/",
        confirm_url=f"{settings.REDRESS_PUBLIC_URL}/confirm/sample-confirmation-link/",
        recovery="refund £42.00",
        recovery_approved=True,
        duplicate_reference=f"RDR-{now.year}-000124",
    )
