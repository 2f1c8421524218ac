"""Text people wrote, as the desk and the tracking page show it, and one-line fields.

* Directional formatting characters (U+202A-U+202E, U+2066-U+2069) in a story or a message
  are shown as visible markers, not applied; what is stored is unchanged.
* Line breaks and runs of spaces show as written (``white-space: pre-wrap``), with no
  ``<br>`` added on top of the text's own line breaks.
* A name or a subject with a control character (a line break above all) is refused by the
  public form and the API, naming the character and where it is; email ingest folds it.
"""

from pathlib import Path

import pytest
from django.test import Client

from notifications.inbound_parsing import parse_message
from notifications.replay import tracking_token
from recovery.models import Complaint, Message
from tests.conftest import api_client
from tests.desk.conftest import signed_in
from tests.desk.test_portal import form_data, text_of

pytestmark = pytest.mark.django_db

RLO, PDF = "\u202e", "\u202c"
RLO_MARKER = "\u27e8U+202E\u27e9</span>"
PDF_MARKER = "\u27e8U+202C\u27e9</span>"
SPACED = "  indented line   with  spaces"


def test_the_desk_shows_a_directional_override_in_a_reply_as_a_marker(agent, make_complaint):
    complaint = make_complaint(description=f"{SPACED}\nsecond line {RLO}gnp.exe")
    client = signed_in(agent)
    page = f"/desk/complaints/{complaint.reference}/"

    assert client.post(f"{page}reply/", {"reply-body": f"Line 2 {RLO}evil{PDF}"}).status_code == 302
    assert client.post(f"{page}note/", {"note-body": f"note {RLO}txt.exe"}).status_code == 302
    html = text_of(client.get(page))

    assert RLO not in html and PDF not in html
    assert 'Line 2 <span class="bidi-control" title="right-to-left override (U+202E), ' in html
    assert f"{RLO_MARKER}evil<span " in html and f"{PDF_MARKER}</div>" in html
    assert "note <span " in html and f"{RLO_MARKER}txt.exe</div>" in html
    # The story keeps its spacing and its own line break, with no <br> doubling it.
    assert f'<div class="story">{SPACED}\nsecond line <span ' in html
    assert f"{RLO_MARKER}gnp.exe</div>" in html
    # What is stored is what was written.
    assert Message.objects.filter(body=f"Line 2 {RLO}evil{PDF}").exists()


def test_the_tracking_page_shows_a_customer_message_as_written_but_inert(
    groups, touchpoint, category
):
    portal = Client()
    assert portal.post("/", form_data(description=f"First line\r\n{SPACED}")).status_code == 302
    complaint = Complaint.objects.get()
    url = f"/track/{tracking_token(complaint.pk)}/"

    assert portal.post(f"{url}reply/", {"body": f"{RLO}gnp.exe"}).status_code == 302
    html = text_of(portal.get(url))

    assert RLO not in html
    assert '<div class="body" dir="auto"><span class="bidi-control" ' in html
    assert f"{RLO_MARKER}gnp.exe</div>" in html
    # The original message (the story) keeps its spaces; the \r\n became one line break.
    assert f'<div class="body" dir="auto">First line\n{SPACED}</div>' in html
    assert Message.objects.filter(body=f"{RLO}gnp.exe").exists()


def test_the_stylesheet_keeps_the_spacing_of_stories_and_messages():
    css = (Path(__file__).resolve().parents[2] / "static/redress/css/redress.css").read_text()

    assert ".story, .body { white-space: pre-wrap;" in css


INJECTED = "Eve\r\nBcc: victim@example.com\r\nX-Injected: yes"


def test_the_public_form_refuses_a_name_with_a_line_break(groups, touchpoint, category):
    answer = Client().post("/", form_data(name=INJECTED))

    assert answer.status_code == 400
    assert "Write this on one line: remove the carriage return (U+000D) at character 4." in text_of(
        answer
    )
    assert not Complaint.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"customer": {"name": INJECTED, "email": "eve@example.com"}}, "customer"),
        (
            {
                "subject": "Refund\nBcc: victim@example.com",
                "customer": {"name": "Eve", "phone": "1"},
            },
            "subject",
        ),
        ({"subject": "Tab\there", "customer": {"name": "Eve", "phone": "1"}}, "subject"),
    ],
)
def test_the_api_refuses_a_name_or_subject_with_a_control_character(agent, payload, field):
    answer = api_client(agent).post(
        "/api/complaints/",
        {"subject": "Charged twice", "description": "Two charges.", **payload},
        format="json",
    )

    assert answer.status_code == 400, answer.content
    assert field in answer.json()["details"]
    assert "Write this on one line" in str(answer.json()["details"][field])
    assert not Complaint.objects.exists()


def test_email_ingest_folds_control_characters_in_a_display_name_and_subject_to_spaces():
    # (The email package itself refuses CR and LF in a display name; other line breaks and
    # control characters get through it.)
    raw = (
        b"From: =?utf-8?b?RXZl4oCoQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20LWA==?= <eve@example.com>\r\n"
        b"To: complaints@example.com\r\n"
        b"Subject: =?utf-8?q?Refund=0D=0AX-Injected=3A_yes=07?=\r\n"
        b"Message-ID: <a@example.com>\r\n"
        b"\r\n"
        b"Body.\r\n"
    )

    parsed = parse_message(raw)

    assert parsed.from_name == "Eve Bcc: victim@example.com X"  # was "Eve\u2028Bcc: ...\x0bX"
    assert parsed.subject == "Refund X-Injected: yes"
