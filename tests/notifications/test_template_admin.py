"""Customer email templates in the admin: previewed per regulatory profile, checked on save.

Personas: ``editor`` is a superuser editing templates in the admin; ``agent``
(tests/conftest.py) works complaints and has no admin access.
"""

import re
from html import unescape

import pytest

from notifications.models import MessageTemplate
from tests.factories import UserFactory
from tests.notifications.shipped_templates import ensure_default_templates

CHANGELIST = "/admin/notifications/messagetemplate/"


@pytest.fixture
def editor(client, db):
    ensure_default_templates()
    user = UserFactory(username="editor", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def template(kind: str, profile: str = "") -> MessageTemplate:
    return MessageTemplate.objects.get(kind=kind, language="en", regulatory_profile=profile)


def preview_url(row: MessageTemplate, profile: str | None = None) -> str:
    query = "" if profile is None else f"?profile={profile}"
    return f"{CHANGELIST}{row.pk}/preview/{query}"


def part(html: str, css_class: str) -> str:
    """The text of the preview element with ``css_class`` (subject or text body)."""
    found = re.search(rf'class="{css_class}">(.*?)</', html, re.S)
    assert found, f"no {css_class} in the page"
    return unescape(found.group(1))


def change_form(row: MessageTemplate, **changes) -> dict:
    return {
        "kind": row.kind,
        "language": row.language,
        "regulatory_profile": row.regulatory_profile,
        "subject": row.subject,
        "body_text": row.body_text,
        **changes,
    }


def test_the_change_form_links_to_the_preview(editor):
    row = template("resolution", "uk_fca_disp")

    page = editor.get(f"{CHANGELIST}{row.pk}/change/")

    assert page.status_code == 200
    assert f'href="{preview_url(row)}"' in page.content.decode()


def test_the_preview_renders_subject_and_text_for_a_sample_complaint(editor):
    row = template("resolution", "uk_fca_disp")

    page = editor.get(preview_url(row))

    assert page.status_code == 200
    html = page.content.decode()
    subject = part(html, "preview-subject")
    # The one subject of every email about the sample complaint; the text says the kind.
    assert re.fullmatch(r"\[RDR-\d{4}-000123\] Charged twice for one order", subject)
    text = part(html, "preview-text")
    assert text.startswith('Dear Zoë O\'Brien & Sons <"quotes">,')
    assert "Our decision: Upheld." in text
    assert "We refunded the duplicate charge" in text
    # The FCA wording a final response must carry.
    assert "Financial Ombudsman Service" in text
    assert "within six months" in text
    assert "{{" not in text
    # Its own profile is the one chosen by default, and no more specific template exists.
    assert '<option value="uk_fca_disp" selected>' in html
    assert "instead" not in html


def test_a_generic_template_previewed_under_a_profile_names_the_template_sent_instead(editor):
    generic = template("resolution")
    cfpb = template("resolution", "us_cfpb")

    page = editor.get(preview_url(generic, "us_cfpb"))

    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert f"is sent “{cfpb}” instead" in html
    # Still this template's wording: the preview shows what was asked for.
    assert "consumerfinance.gov" not in part(html, "preview-text")


def test_the_sample_complaint_carries_the_chosen_profile(editor):
    row = template("acknowledgement")
    row.body_text = (
        "{% if complaint.regulatory_profile == 'au_asic_rg271' %}AFCA applies."
        "{% else %}No regulator named.{% endif %} {{ message }}"
    )
    row.save()

    under_asic = part(
        editor.get(preview_url(row, "au_asic_rg271")).content.decode(), "preview-text"
    )
    under_none = part(editor.get(preview_url(row, "")).content.decode(), "preview-text")

    assert under_asic.startswith("AFCA applies. Thank you for telling us.")
    assert under_none.startswith("No regulator named.")


def frame_of(html: str) -> str:
    """The document shown in the preview's sandboxed frame."""
    frame = re.search(r'<iframe class="preview-html" sandbox="" srcdoc="([^"]*)"', html)
    assert frame, "no sandboxed frame"
    return unescape(frame.group(1))


def test_the_preview_shows_the_html_part_made_from_the_same_text(editor):
    row = template("resolution", "uk_fca_disp")

    html = editor.get(preview_url(row)).content.decode()

    document = frame_of(html)
    text = part(html, "preview-text")
    assert document.startswith("<!DOCTYPE html>")
    assert (
        '<p style="margin:0 0 1em 0;white-space:pre-wrap;">Dear Zoë O&#x27;Brien &amp; Sons &lt;&quot;quotes&quot;&gt;,'
        "</p>" in document
    )
    assert "Financial Ombudsman Service" in document
    # One wording: each paragraph of the text is a paragraph of the HTML.
    assert document.count("<p ") == len([p for p in text.split("\n\n") if p.strip()])


def test_markup_written_into_a_template_is_shown_as_text_in_the_html_part(editor):
    row = template("reply")
    row.body_text = "Dear {{ customer.name }},\n\n<script>alert(1)</script> & <b>more</b>"
    row.save()

    html = editor.get(preview_url(row)).content.decode()

    document = frame_of(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;" in document
    assert "<script>" not in document
    assert "<script>alert(1)</script>" not in html  # nowhere on the page either
    # The text part says what was written.
    assert part(html, "preview-text").endswith("<script>alert(1)</script> & <b>more</b>\n")


def test_an_unknown_profile_is_a_400_that_says_so(editor):
    page = editor.get(preview_url(template("resolution"), "mars_authority"))

    assert page.status_code == 400
    assert "Unknown regulatory profile &#x27;mars_authority&#x27;" in page.content.decode()


def test_the_preview_of_a_missing_template_redirects_and_staff_only(editor, client, agent):
    assert editor.get(f"{CHANGELIST}999999/preview/").status_code == 302
    client.force_login(agent)
    answer = client.get(preview_url(template("resolution")))
    assert answer.status_code == 302
    assert answer["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("field", "source", "complaint"),
    [
        pytest.param("subject", "Your complaint {{ reference| }}", "reference|", id="bad-var"),
        pytest.param("subject", "{% endif %} {{ reference }}", "endif", id="stray-end-tag"),
        pytest.param("body_text", "{% if %}x{% endif %}", "if", id="empty-if"),
        pytest.param("body_text", "{% load i18n %}{% trans 'x' %}", "i18n", id="no-libraries"),
        pytest.param("body_text", "{{ message|shout }}", "shout", id="unknown-filter"),
        pytest.param("body_text", "{% include 'desk/base.html' %}", "desk/base.html", id="include"),
        pytest.param("body_text", "{% for x in %}", "for", id="bad-for"),
    ],
)
def test_saving_a_template_that_cannot_render_is_a_form_error_not_a_500_later(
    editor, field, source, complaint
):
    row = template("acknowledgement")
    before = (row.subject, row.body_text)

    page = editor.post(f"{CHANGELIST}{row.pk}/change/", change_form(row, **{field: source}))

    assert page.status_code == 200  # the form again, with the error
    errors = page.context["adminform"].form.errors
    assert list(errors) == [field]
    assert errors[field][0].startswith("This template does not work:")
    assert complaint in errors[field][0]
    row.refresh_from_db()
    assert (row.subject, row.body_text) == before


def test_a_valid_edit_is_saved_and_previewed_as_edited(editor):
    row = template("acknowledgement")

    page = editor.post(
        f"{CHANGELIST}{row.pk}/change/",
        change_form(row, subject="{{ thread_subject }} (got it)", body_text="Noted: {{ message }}"),
    )

    assert page.status_code == 302
    html = editor.get(preview_url(row)).content.decode()
    assert re.fullmatch(
        r"\[RDR-\d{4}-000123\] Charged twice for one order \(got it\)",
        part(html, "preview-subject"),
    )
    assert part(html, "preview-text").startswith("Noted: Thank you for telling us.")
    assert ">Noted: Thank you for telling us." in frame_of(html)


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("We have received your complaint {{ reference }}", id="a-subject-per-kind"),
        pytest.param("Re: {{ thread_subject }}", id="something-before-it"),
    ],
)
def test_a_subject_that_does_not_begin_with_the_thread_subject_is_refused(editor, subject):
    """Gmail threads by subject: one subject per kind split a complaint's emails apart."""
    row = template("acknowledgement")
    before = row.subject

    page = editor.post(f"{CHANGELIST}{row.pk}/change/", change_form(row, subject=subject))

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert list(errors) == ["subject"]
    assert errors["subject"][0].startswith("Begin the subject with {{ thread_subject }}")
    row.refresh_from_db()
    assert row.subject == before == "{{ thread_subject }}"


def test_a_new_template_starts_with_the_thread_subject(editor):
    page = editor.get(f"{CHANGELIST}add/")

    assert page.context["adminform"].form["subject"].value() == "{{ thread_subject }}"


def test_adding_a_broken_template_is_refused_too(editor):
    page = editor.post(
        f"{CHANGELIST}add/",
        {
            "kind": "holding",
            "language": "fr",
            "regulatory_profile": "",
            "subject": "{% now %}",
            "body_text": "Bonjour",
        },
    )

    assert page.status_code == 200
    assert "subject" in page.context["adminform"].form.errors
    assert not MessageTemplate.objects.filter(language="fr").exists()


def test_the_sample_customer_is_literal_in_subject_and_text_and_escaped_in_the_html(editor):
    """Every escapable character in the sample customer's name: the preview proves that the
    text part never escapes (a customer is not "O&#x27;Brien") and the HTML part always does."""
    row = template("reply")
    row.subject = "{{ thread_subject }} for {{ customer.name }}"
    row.body_text = "Dear {{ customer.name }},\n\n{{ message }}"
    row.save()

    html = editor.get(preview_url(row)).content.decode()

    name = 'Zoë O\'Brien & Sons <"quotes">'
    assert re.fullmatch(
        rf"\[RDR-\d{{4}}-000123\] Charged twice for one order for {re.escape(name)}",
        part(html, "preview-subject"),
    )
    assert part(html, "preview-text").startswith(f"Dear {name},\n\n")
    document = frame_of(html)
    assert "Dear Zoë O&#x27;Brien &amp; Sons &lt;&quot;quotes&quot;&gt;," in document
    assert name not in document
    # On the admin page itself every part is escaped once more: nothing of it is markup.
    assert '<"quotes">' not in html
    assert "the sample customer" in unescape(html)
