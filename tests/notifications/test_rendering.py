"""Rendering customer emails: the text part says exactly what was written, never escaped.

No database: templates, customers and complaints are built in memory, as the admin preview's
sample complaint is.
"""

from notifications.models import MessageTemplate, MessageTemplateKind
from notifications.rendering import render
from recovery.models import Complaint, Customer

NAME = 'Zoë O\'Brien & Sons <"quotes">'
SUBJECT = "The \"late\" fee & O'Brien's <b>bold</b> charge"
MESSAGE = "We've refunded the \"late\" fee & the <b>other</b> one; it's done."


def _context() -> dict:
    customer = Customer(name=NAME, email="zoe@example.com")
    complaint = Complaint(
        reference="RDR-2026-000042", customer=customer, subject=SUBJECT, description=MESSAGE
    )
    return {
        "customer": customer,
        "complaint": complaint,
        "reference": complaint.reference,
        "message": MESSAGE,
    }


def _template(subject: str, body: str) -> MessageTemplate:
    return MessageTemplate(
        kind=MessageTemplateKind.REPLY, language="en", subject=subject, body_text=body
    )


def test_the_text_part_and_the_subject_say_names_and_words_literally():
    template = _template(
        "Re: {{ complaint.subject }} ({{ reference }})",
        "Dear {{ customer.name }},\n\n{{ message }}",
    )

    subject, text, _html = render(template, _context())

    assert subject == f"Re: {SUBJECT} (RDR-2026-000042)"
    assert text == f"Dear {NAME},\n\n{MESSAGE}\n"
    for escaped in ("&amp;", "&#x27;", "&quot;", "&lt;", "&gt;"):
        assert escaped not in subject + text
