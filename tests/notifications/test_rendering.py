"""Rendering customer emails: the text part says exactly what was written, never escaped;
the HTML part says the same words, escaped, and nothing else.

Templates, customers and complaints are built in memory, as the admin preview's sample
complaint is; only the test of every shipped template reads them from the database, where the
migrations put them.
"""

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.email_html import _TEXT_STYLE, normalise_line_endings, text_to_html
from notifications.models import MessageTemplate, MessageTemplateKind
from notifications.rendering import render, sample_context, thread_subject
from recovery.models import Complaint, Customer
from tests.notifications.shipped_templates import ensure_default_templates

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
    assert f'<p style="margin:0 0 1em 0;white-space:pre-wrap;">Dear {escape(NAME)},</p>' in html
    assert f"{escape(MESSAGE)}<br>Bye &amp; thanks</p>" in html
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


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param("Charged twice", "[RDR-2026-000042] Charged twice", id="plain"),
        pytest.param("Re: Charged twice", "[RDR-2026-000042] Charged twice", id="re"),
        pytest.param(
            "RE: Fwd: AW: Re[2]: FW:  Charged  twice ", "[RDR-2026-000042] Charged twice", id="many"
        ),
        pytest.param(
            "Re: [RDR-2026-000042] Charged twice", "[RDR-2026-000042] Charged twice", id="ours"
        ),
        pytest.param(
            "Re: [RDR-2025-000007] Old one", "[RDR-2026-000042] Old one", id="another-reference"
        ),
        pytest.param("Regarding my refund", "[RDR-2026-000042] Regarding my refund", id="re-word"),
        pytest.param("Re:", "[RDR-2026-000042]", id="nothing-left"),
        pytest.param("", "[RDR-2026-000042]", id="empty"),
    ],
)
def test_the_thread_subject_is_the_reference_and_the_subject_without_reply_prefixes(
    subject, expected
):
    assert thread_subject("RDR-2026-000042", subject) == expected
    # Answered ("Re: …") and made into a subject again, it stays the same.
    assert thread_subject("RDR-2026-000042", f"Re: {expected}") == expected


_P = '<p style="margin:0 0 1em 0;white-space:pre-wrap;">'


@pytest.mark.parametrize(
    ("text", "body"),
    [
        pytest.param("one\ntwo\n\nthree", f"{_P}one<br>two</p>\n{_P}three</p>", id="lf"),
        pytest.param("one\r\ntwo\r\n\r\nthree", f"{_P}one<br>two</p>\n{_P}three</p>", id="crlf"),
        pytest.param("one\rtwo\r\rthree", f"{_P}one<br>two</p>\n{_P}three</p>", id="cr"),
        pytest.param("one\r\n  \r\n\r\n\r\ntwo\r\n", f"{_P}one</p>\n{_P}two</p>", id="blank-lines"),
        pytest.param("one\r\ntwo\nthree\rfour", f"{_P}one<br>two<br>three<br>four</p>", id="mixed"),
        pytest.param("\r\n\r\none\r\n\r\n", f"{_P}one</p>", id="leading-and-trailing"),
    ],
)
def test_any_line_ending_makes_the_same_paragraphs_and_line_breaks(text, body):
    html = text_to_html(text, subject="s", language="en")

    assert f'dir="auto" style="{_TEXT_STYLE}">\n{body}\n</div>' in html
    assert "\r" not in html


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=6), max_size=6
    ),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_a_text_reads_the_same_whatever_its_line_endings(lines, ending):
    """A message typed in a browser (\\r\\n), on an old Mac (\\r) or on Unix says the same."""
    unix = text_to_html("\n".join(lines), subject="s", language="en")

    assert text_to_html(ending.join(lines), subject="s", language="en") == unix


def test_an_agents_message_typed_in_a_browser_keeps_its_paragraphs_in_both_parts():
    template = _template("Re: {{ reference }}", "Dear {{ customer.name }},\n\n{{ message }}")
    context = {**_context(), "message": "We found it.\r\n\r\nWe fixed it.\r\nSorry."}

    _subject, text, html = render(template, context)

    assert text == f"Dear {NAME},\n\nWe found it.\n\nWe fixed it.\nSorry.\n"
    assert f"{_P}We found it.</p>\n{_P}We fixed it.<br>Sorry.</p>" in html
    assert "\r" not in text + html


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


# span: the visible marker of a directional control (U+202E shown as ⟨U+202E⟩, titled).
ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "p", "br", "a", "span"}
ALLOWED_ATTRIBUTES = {
    "lang", "charset", "name", "content", "style", "role", "aria-label", "dir", "href", "title"
}  # fmt: skip
_DIRECTIONAL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _shown(text: str) -> str:
    """``text`` as the HTML part shows it: each directional control as a visible marker."""
    return _DIRECTIONAL.sub(lambda m: f"\u27e8U+{ord(m.group(0)):04X}\u27e9", text)


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
    # Line endings made \n (``\r\n`` and ``\r`` alike), as the email's text part carries them.
    assert text == normalise_line_endings(f"Dear {name},\n\n{body}").strip() + "\n"
    reader = _Reader()
    reader.feed(html)
    reader.close()
    assert reader.tags <= ALLOWED_TAGS
    assert reader.attributes <= ALLOWED_ATTRIBUTES
    assert _words("".join(reader.seen)) == _words(_shown(text))
    for href, shown in reader.links:
        assert href == shown
        assert href.lower().startswith(("http://", "https://"))


# Text that breaks naive templating: markup and its escapes, quotes, right-to-left text and its
# override mark, a combining accent, an emoji, a zero-width joiner; mixed with anything at all.
_AWKWARD = st.sampled_from(
    ["&", "<", ">", '"', "'", "&amp;", "<b>", "\u05e9\u05dc\u05d5\u05dd", "\u202e", "e\u0301",
     "\U0001f600", "\u200d", " "]
)  # fmt: skip
_WORDS = st.lists(st.one_of(_AWKWARD, st.text(max_size=8)), max_size=8).map("".join)
# A body may have line breaks and paragraphs; a name or a subject, one line at most.
_LINES = st.lists(_WORDS, min_size=1, max_size=4).map("\n".join)


@dataclass(frozen=True)
class _Said:
    """What a customer and an agent wrote, as they go into a customer email's context."""

    name: str
    subject: str
    description: str
    message: str
    summary: str

    def context(self, template: MessageTemplate) -> dict:
        context = sample_context(template.kind, template.regulatory_profile)
        context["customer"].name = self.name
        context["complaint"].subject = self.subject
        context["thread_subject"] = thread_subject(context["reference"], self.subject)
        context["complaint"].description = self.description
        context["complaint"].resolution_summary = self.summary
        context["message"] = self.message
        context["resolution_summary"] = self.summary
        return context


_SENTINELS = _Said(
    name="Sentinel-name",
    subject="Sentinel-subject",
    description="Sentinel-description",
    message="Sentinel-message",
    summary="Sentinel-summary",
)
_FIELDS = ("name", "subject", "description", "message", "summary")


def _shipped_templates() -> list[tuple[MessageTemplate, set[str]]]:
    """Every template the migrations ship, with the fields its text says as they are.

    A field shown through a filter (``|upper``) or not at all is not expected literally.
    """
    ensure_default_templates()
    templates = []
    for template in MessageTemplate.objects.order_by("kind", "regulatory_profile", "language"):
        _, text, _ = render(template, _SENTINELS.context(template))
        templates.append(
            (template, {name for name in _FIELDS if getattr(_SENTINELS, name) in text})
        )
    return templates


@pytest.mark.django_db
def test_every_shipped_template_says_any_words_literally_in_text_and_escaped_in_html():
    templates = _shipped_templates()
    # Every kind has a template, and the fields are said somewhere: the test is not vacuous.
    assert {template.kind for template, _ in templates} == set(MessageTemplateKind.values)
    assert all("name" in fields for _, fields in templates)
    # (The shipped texts name the complaint by reference, not by subject or description; the
    # subject is in every Subject line, through the thread subject, checked below.)
    assert set().union(*(fields for _, fields in templates)) >= {"name", "message", "summary"}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        said=st.builds(
            _Said,
            name=_WORDS,
            subject=_WORDS,
            description=_LINES,
            message=_LINES,
            summary=_LINES,
        )
    )
    def check(said: _Said) -> None:
        for template, fields in templates:
            where = f"{template.kind}/{template.regulatory_profile}/{template.language}"
            context = said.context(template)
            subject, text, html = render(template, context)
            # Every shipped template's subject is the complaint's one subject, literally.
            assert subject == thread_subject(context["reference"], said.subject), where
            assert f"<title>{escape(subject)}</title>" in html, where
            for field in fields:
                # The text part carries \n line endings, whatever the writer typed.
                value = normalise_line_endings(getattr(said, field)).strip()
                assert value in text, (where, field)
                if "\n" not in value and "://" not in value and value == _shown(value):
                    # One line without an address: in the HTML exactly as escape() writes it.
                    assert escape(value) in html, (where, field)
            reader = _Reader()
            reader.feed(html)
            reader.close()
            # The HTML shows the text's words, and nothing of what was said became markup.
            assert _words("".join(reader.seen)) == _words(_shown(text)), where
            assert reader.tags <= ALLOWED_TAGS, where

    check()


def test_a_directional_override_is_shown_as_a_marker_in_html_and_kept_in_text():
    # "\u202egnp.exe" reads "exe.png" when applied; the HTML shows the override instead.
    template = _template("Re: {{ reference }}", "{{ message }}")
    context = {**_context(), "message": "Line 2 \u202eevil\u202c, file \u202egnp.exe"}

    _subject, text, html = render(template, context)

    # The text part is what was written (the customer's or agent's own characters).
    assert text == "Line 2 \u202eevil\u202c, file \u202egnp.exe\n"
    assert not {"\u202e", "\u202c"} & set(html)
    assert "Line 2 <span " in html
    assert ">\u27e8U+202E\u27e9</span>evil<span " in html
    assert ">\u27e8U+202C\u27e9</span>, file <span " in html
    assert 'title="right-to-left override (U+202E), shown, not applied"' in html


def test_a_directional_control_ends_a_link():
    html = text_to_html("see https://example.com/a\u202efdp.exe", subject="s", language="en")

    assert '<a href="https://example.com/a" ' in html
    assert "\u27e8U+202E\u27e9</span>fdp.exe" in html


def test_runs_of_spaces_and_indentation_are_kept_in_html():
    html = text_to_html(
        "First.\n\n  indented line   with  spaces\n    and more", subject="s", language="en"
    )

    assert f"{_P}First.</p>\n{_P}  indented line   with  spaces<br>    and more</p>" in html
