"""Macros on the desk, without a browser: supervisors write, change and archive them (an
agent is refused; a wrong placeholder is said on the form); an agent chooses one on a
complaint's page, reads its filled-in text beside the recovery guideline it names, and
acknowledges or replies with it; the page costs what it cost.

Personas: ``supervisor`` (of Billing) manages macros; ``agent`` works Billing.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import delivery, rendering
from notifications.models import EmailDelivery, Outbox
from recovery.models import (
    Complaint,
    Macro,
    Message,
    MessageKind,
    RecoveryGuideline,
    State,
)
from recovery.services import macros
from tests.conftest import acknowledge
from tests.desk.conftest import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def make_macro(supervisor, **overrides) -> Macro:
    values = {
        "name": "Looking into it",
        "body": "Dear {customer_name}, we are on {reference}. {agent_name}",
        "next_steps": "We will write to you {resolve_by}.",
    }
    values.update(overrides)
    return macros.macro_save(actor=supervisor, fields=macros.MacroFields(**values))


def text_of(response) -> str:
    return response.content.decode()


# -- managing ----------------------------------------------------------------------------


def test_a_supervisor_writes_a_macro_from_the_desk(supervisor, team, root_causes):
    client = signed_in(supervisor)
    assert client.get("/desk/macros/new/").status_code == 200

    answer = client.post(
        "/desk/macros/new/",
        {
            "name": "Refund on its way",
            "body": "The refund for {reference} is on its way, {customer_name}.",
            "visibility": "team",
            "team": team.pk,
            "root_cause": "billing.duplicate-charge",
            "puts_on_hold": "on",
        },
    )

    assert answer.status_code == 302
    macro = Macro.objects.get(name="Refund on its way")
    assert (macro.team_id, macro.root_cause.code, macro.puts_on_hold) == (
        team.pk,
        "billing.duplicate-charge",
        True,
    )
    listing = text_of(client.get("/desk/macros/"))
    assert "Refund on its way" in listing and "The Billing team" in listing


def test_a_wrong_placeholder_is_said_on_the_form_and_nothing_saved(supervisor):
    answer = signed_in(supervisor).post(
        "/desk/macros/new/",
        {"name": "Bad", "body": "Hello {customer}", "visibility": "everyone"},
    )

    assert answer.status_code == 400
    assert "Unknown placeholder {customer}" in text_of(answer)
    assert not Macro.objects.exists()


def test_a_duplicate_name_is_said_on_the_form(supervisor):
    make_macro(supervisor)
    answer = signed_in(supervisor).post(
        "/desk/macros/new/",
        {"name": "Looking into it", "body": "Hi", "visibility": "everyone"},
    )

    assert answer.status_code == 400
    assert "already called “Looking into it”" in text_of(answer)


def test_a_supervisor_edits_and_archives_a_macro(supervisor):
    macro = make_macro(supervisor)
    client = signed_in(supervisor)

    edited = client.post(
        f"/desk/macros/{macro.pk}/edit/",
        {"name": "Renamed", "body": "New text for {reference}", "visibility": "everyone"},
    )
    archived = client.post(f"/desk/macros/{macro.pk}/archive/")

    assert (edited.status_code, archived.status_code) == (302, 302)
    macro.refresh_from_db()
    assert macro.name == "Renamed" and macro.archived_at is not None
    assert client.get("/desk/macros/999999/edit/").status_code == 404
    assert client.post("/desk/macros/999999/archive/").status_code == 404


def test_an_agent_may_not_manage_macros(agent, supervisor):
    macro = make_macro(supervisor)
    client = signed_in(agent)

    assert client.get("/desk/macros/").status_code == 403
    assert client.post("/desk/macros/new/", {"name": "X", "body": "Y"}).status_code == 403
    assert client.post(f"/desk/macros/{macro.pk}/archive/").status_code == 403
    assert Macro.objects.get(pk=macro.pk).archived_at is None


# -- using on the complaint's page -------------------------------------------------------


def test_the_page_fills_the_chosen_macro_in_beside_its_guideline(
    agent, supervisor, make_complaint, root_causes
):
    complaint = make_complaint()
    guide = RecoveryGuideline.objects.create(
        root_cause=root_causes["billing.duplicate-charge"],
        type="refund",
        amount="25.00",
        currency="GBP",
        note="Refund the duplicate and apologise.",
    )
    macro = make_macro(supervisor, guideline=guide)
    client = signed_in(agent)

    listed = text_of(client.get(f"/desk/complaints/{complaint.reference}/"))
    assert f'<option value="{macro.pk}"' in listed
    chosen = text_of(client.get(f"/desk/complaints/{complaint.reference}/?macro={macro.pk}"))

    assert f"Dear {complaint.customer.name}, we are on {complaint.reference}." in chosen
    assert "Refund the duplicate and apologise." in chosen and "25.00 GBP" in chosen
    assert "Acknowledge with this macro" in chosen
    unknown = text_of(client.get(f"/desk/complaints/{complaint.reference}/?macro=99999"))
    assert "That macro is not offered on this complaint" in unknown


def test_the_chooser_comes_back_to_the_filled_in_text(agent, supervisor, make_complaint):
    """Without a script: the chooser's GET goes to #macro-text, the id of the filled-in
    text, which the browser scrolls to (and focuses, where it does); a macro not offered
    has no such text, and its message takes the focus (autofocus) instead."""
    complaint = make_complaint()
    macro = make_macro(supervisor)
    client = signed_in(agent)
    page = f"/desk/complaints/{complaint.reference}/"

    listed = text_of(client.get(page))
    assert re.search(r'<form method="get" action="#macro-text"[^>]*data-shortcut="macro"', listed)
    assert 'id="macro-text"' not in listed
    chosen = text_of(client.get(f"{page}?macro={macro.pk}"))
    assert re.search(r'<textarea name="macro-body"[^>]*id="macro-text"', chosen)
    assert chosen.count('id="macro-text"') == 1 and "autofocus" not in chosen
    assert '<label for="macro-text">' in chosen
    unknown = text_of(client.get(f"{page}?macro=99999"))
    assert re.search(r'<p class="error-summary" role="alert" tabindex="-1" autofocus>', unknown)
    assert 'id="macro-text"' not in unknown


def test_an_agent_acknowledges_with_a_macro(agent, supervisor, make_complaint):
    complaint = make_complaint()
    macro = make_macro(supervisor)
    client = signed_in(agent)

    answer = client.post(
        f"/desk/complaints/{complaint.reference}/macro/",
        {
            "macro-macro": macro.pk,
            "macro-expected_state": "received",
            "macro-body": f"Thank you; your reference is {complaint.reference}.",
            "macro-next_steps": "We will call you tomorrow.",
        },
    )

    assert answer.status_code == 302
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.state == State.ACKNOWLEDGED
    sent = Message.objects.get(complaint=complaint, kind=MessageKind.ACKNOWLEDGEMENT)
    assert sent.body.endswith("What happens next: We will call you tomorrow.")


def test_a_refusal_is_said_on_the_macro_form_with_the_text_kept(agent, supervisor, make_complaint):
    complaint = make_complaint()
    macro = make_macro(supervisor)
    client = signed_in(agent)

    answer = client.post(
        f"/desk/complaints/{complaint.reference}/macro/",
        {
            "macro-macro": macro.pk,
            "macro-expected_state": "received",
            "macro-body": "No reference in here.",
            "macro-next_steps": "Soon.",
        },
    )

    assert answer.status_code == 400
    html = text_of(answer)
    assert "must name the complaint" in html
    assert "No reference in here." in html
    assert Complaint.objects.get(pk=complaint.pk).state == State.RECEIVED


def test_an_oversized_or_malformed_post_is_a_400(agent, supervisor, make_complaint):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = make_macro(supervisor)
    client = signed_in(agent)
    url = f"/desk/complaints/{complaint.reference}/macro/"

    too_long = client.post(url, {"macro-macro": macro.pk, "macro-body": "x" * 5001})
    not_a_number = client.post(url, {"macro-macro": "one", "macro-body": "Hi"})

    assert (too_long.status_code, not_a_number.status_code) == (400, 400)
    assert not Message.objects.filter(complaint=complaint, kind=MessageKind.REPLY).exists()


@pytest.mark.postgresql(reason="the page's reads come along as JSON arrays")
def test_the_page_with_macros_costs_what_it_did(agent, supervisor, make_complaint, settings):
    from tests.desk.test_complaint_page_budget import PAGE_BUDGET, page_statements

    settings.REDRESS_CONFIGURATION_CACHE = True
    complaint = make_complaint()
    macro = make_macro(supervisor)
    for n in range(5):
        make_macro(supervisor, name=f"Other {n}")
    client = signed_in(agent)
    page_statements(client, complaint)  # warm: the session
    # The first macro chosen in this process reads the macros into memory (once per change).
    client.get(f"/desk/complaints/{complaint.reference}/?macro={macro.pk}")

    sent, html = page_statements(client, complaint)
    assert len(sent) == PAGE_BUDGET, sent
    assert "Looking into it" in html  # offered, from memory
    with CaptureQueriesContext(connection) as chosen:
        answer = client.get(f"/desk/complaints/{complaint.reference}/?macro={macro.pk}")
    assert answer.status_code == 200
    assert (
        len([q for q in chosen if not re.match(r"(SAVEPOINT|RELEASE|BEGIN|COMMIT)", q["sql"])])
        == PAGE_BUDGET
    )


def test_a_withdrawn_complaint_offers_no_macro(agent, supervisor, make_complaint, customer_user):
    from recovery.services.lifecycle import complaint_withdraw

    complaint = make_complaint()
    macro = make_macro(supervisor)
    complaint_withdraw(complaint=complaint, actor=customer_user, reason="Sorted")

    html = text_of(
        signed_in(agent).get(f"/desk/complaints/{complaint.reference}/?macro={macro.pk}")
    )

    assert "Use a macro" not in html and macro.name not in html


# -- category and root cause -------------------------------------------------------------


def test_the_macro_form_says_what_category_and_root_cause_do(supervisor):
    html = text_of(signed_in(supervisor).get("/desk/macros/new/"))

    assert "it moves the complaint to this one" in html
    assert "pre-selects this cause in the complaint&#x27;s resolve form" in html


def test_a_macros_root_cause_is_preselected_in_the_resolve_form_until_resolved(
    agent, supervisor, make_complaint, root_causes
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = make_macro(supervisor, root_cause=root_causes["billing.refund-delay"])
    client = signed_in(agent)
    chosen = client.get(f"/desk/complaints/{complaint.reference}/?macro={macro.pk}")
    assert "suggests the root cause Refund delayed" in text_of(chosen)

    answer = client.post(
        f"/desk/complaints/{complaint.reference}/macro/",
        {
            "macro-macro": macro.pk,
            "macro-expected_state": "acknowledged",
            "macro-body": "We are checking the refund.",
        },
    )

    assert answer.status_code == 302
    page = text_of(client.get(f"/desk/complaints/{complaint.reference}/"))
    assert re.search(r'<option value="billing.refund-delay" selected>', page)
    assert "Root cause suggested by macro “Looking into it”: Refund delayed" in page

    # Resolved with another cause, then reopened: the old suggestion is not offered again.
    client.post(
        f"/desk/complaints/{complaint.reference}/resolve/",
        {
            "resolve-expected_state": "acknowledged",
            "resolve-outcome": "upheld",
            "resolve-primary_root_cause": "billing.duplicate-charge",
            "resolve-summary": "Refunded.",
        },
    )
    assert Complaint.objects.get(pk=complaint.pk).state == State.RESOLVED
    signed_in(supervisor).post(
        f"/desk/complaints/{complaint.reference}/reopen/",
        {"reopen-expected_state": "resolved", "reopen-reason": "Customer says not refunded."},
    )
    assert Complaint.objects.get(pk=complaint.pk).state == State.ACKNOWLEDGED
    page = text_of(client.get(f"/desk/complaints/{complaint.reference}/"))
    primary = page[page.index('name="resolve-primary_root_cause"') :]
    assert re.findall(
        r'<option value="([^"]*)" selected', primary[: primary.index("</select>")]
    ) == [""]


def test_a_macro_written_in_the_editor_greets_the_customer_once(agent, supervisor, make_complaint):
    """The reply email's template greets the customer ("Dear …,"): the editor says so,
    shows it in its preview, and refuses a text that greets them again."""
    client = signed_in(supervisor)
    editor = text_of(client.get("/desk/macros/new/"))
    assert "Hello {customer_name}" not in editor
    assert "Write what comes after the greeting" in editor
    assert "Dear Ann Example,\n\n[the macro&#x27;s text]" in editor

    refused = client.post(
        "/desk/macros/new/",
        {
            "name": "Refund on its way",
            "body": "Hello {customer_name}, your refund for {reference} is on its way.",
            "visibility": "everyone",
        },
    )
    assert refused.status_code == 400
    assert "Leave out the greeting: the email already opens with" in text_of(refused)
    assert not Macro.objects.exists()

    fields = {
        "name": "Refund on its way",
        "body": "Your refund for {reference} is on its way.",
        "visibility": "everyone",
    }
    previewed = client.post("/desk/macros/new/", {**fields, "preview": "1"})
    assert previewed.status_code == 200
    reference = rendering.sample_reference()
    assert f"Dear Ann Example,\n\nYour refund for {reference} is on its way." in text_of(previewed)
    assert not Macro.objects.exists()
    assert client.post("/desk/macros/new/", fields).status_code == 302
    macro = Macro.objects.get()

    complaint = acknowledge(make_complaint(), agent)
    page = f"/desk/complaints/{complaint.reference}/"
    filled = text_of(signed_in(agent).get(f"{page}?macro={macro.pk}"))
    body = f"Your refund for {complaint.reference} is on its way."
    assert body in filled
    sent = signed_in(agent).post(
        f"{page}macro/",
        {"macro-macro": macro.pk, "macro-expected_state": "acknowledged", "macro-body": body},
    )
    assert sent.status_code == 302
    for row in Outbox.objects.filter(delivered_at__isnull=True).order_by("pk"):
        delivery.deliver(row.pk)

    email = EmailDelivery.objects.get(complaint_id=complaint.pk, kind="reply")
    name = complaint.customer.name
    assert email.body_text.startswith(f"Dear {name},\n\n{body}\n")
    assert re.findall(r"\b(?:Dear|Hello|Hi)\b", email.body_text) == ["Dear"]
    assert email.body_text.count(name) == 1


@pytest.mark.parametrize(
    ("text", "greets"),
    [
        ("Hello {customer_name}, your refund is on its way.", True),
        ("Dear Ann,\n\nYour refund", True),
        ("good morning {customer_name}", True),
        ("Hi there! Your refund", True),
        ("Hi", False),
        ("Hello {customer}", False),
        ("Your refund is on its way, {customer_name}.", False),
        ("Highlights of what we did: …", False),
    ],
)
def test_what_counts_as_a_greeting(text, greets):
    assert macros.opens_with_greeting(text) is greets
