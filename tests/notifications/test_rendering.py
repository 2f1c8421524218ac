"""Rendering customer emails: the text part says exactly what was written, never escaped;
the HTML part says the same words, escaped, and nothing else.

No database: templates, customers and complaints are built in memory, as the admin preview's
sample complaint is.
"""

import re
from html import escape
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.email_html import text_to_html
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


def test_the_html_part_says_the_same_words_escaped():
    template = _template(
        "Re: {{ complaint.subject }}", "Dear {{ customer.name }},\n\n{{ message }}\nBye & thanks"
    )

    subject, _text, html = render(template, _context())

    assert f"<title>{escape(subject)}</title>" in html
    assert f'<p style="margin:0 0 1em 0;">Dear {escape(NAME)},</p>' in html
    assert f"{escape(MESSAGE)}<br>\nBye &amp; thanks</p>" in html
    assert "<b>" not in html
    assert '<html lang="en">' in html


def test_addresses_become_links_that_show_where_they_go():
    text = (
        "Follow it here:\nhttps://redress.example/track/a?b=1&c=2.\n"
        "(see http://example.org/x_(y)) or www.example.com, not javascript:alert(1)"
    )

    html = text_to_html(text, subject="s", language="en")

    links = re.findall(r'<a href="([^"]*)"[^>]*>([^<]*)</a>', html)
    assert links == [
        (
            "https://redress.example/track/a?b=1&amp;c=2",
            "https://redress.example/track/a?b=1&amp;c=2",
        ),
        ("http://example.org/x_(y)", "http://example.org/x_(y)"),
    ]
    assert "c=2</a>.<br>" in html
    assert "x_(y)</a>) or www.example.com" in html


class _Reader(HTMLParser):
    """What a person sees of an email's HTML, and every tag, attribute and link in it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.seen = []
        self.tags = set()
        self.attributes = set()
        self.links = []
        self._href = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "body":
            self.in_body = True
        elif tag == "br":
            self.seen.append("\n")
        elif tag == "a":
            self._href = dict(attrs)["href"]
            self.links.append([self._href, ""])

    def handle_endtag(self, tag):
        if tag == "p":
            self.seen.append("\n\n")
        elif tag == "a":
            self._href = None

    def handle_data(self, data):
        if self.in_body:
            self.seen.append(data)
            if self._href is not None:
                self.links[-1][1] += data


ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "p", "br", "a"}
ALLOWED_ATTRIBUTES = {
    "lang", "charset", "name", "content", "style", "role", "aria-label", "dir", "href"
}  # fmt: skip


def _words(text: str) -> list[str]:
    return text.split()


@settings(max_examples=200, deadline=None)
@given(name=st.text(), subject=st.text(), body=st.text())
def test_any_name_subject_and_body_are_said_literally_and_only_as_text(name, subject, body):
    customer = Customer(name=name, email="someone@example.com")
    complaint = Complaint(reference="RDR-2026-000001", customer=customer, subject=subject)
    template = _template(
        "About {{ complaint.subject }}", "Dear {{ customer.name }},\n\n{{ message }}"
    )
    context = {"customer": customer, "complaint": complaint, "message": body}

    rendered_subject, text, html = render(template, context)

    # Literally, but for white space: a subject is one line, and a body is trimmed.
    assert rendered_subject == " ".join(f"About {subject}".split())
    assert text == f"Dear {name},\n\n{body}".strip() + "\n"
    reader = _Reader()
    reader.feed(html)
    reader.close()
    assert reader.tags <= ALLOWED_TAGS
    assert reader.attributes <= ALLOWED_ATTRIBUTES
    assert _words("".join(reader.seen)) == _words(text)
    for href, shown in reader.links:
        assert href == shown
        assert href.lower().startswith(("http://", "https://"))
