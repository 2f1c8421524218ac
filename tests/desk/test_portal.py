"""The customer portal without a browser: the complaint form, its confirmation, the tracking
page and its two forms, and the survey. Validation messages, CSRF, escaping, bad links,
the spam throttle."""

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from desk.accounts import PORTAL_ACCOUNT_USERNAME
from notifications.replay import TRACKING_SALT, complaint_of_tracking_token, tracking_token
from recovery.models import (
    Channel,
    Complaint,
    ComplaintEvent,
    EventType,
    Message,
    MessageDirection,
    State,
    Survey,
)
from recovery.services import lifecycle, messages, surveys
from recovery.services.lifecycle import complaint_withdraw
from tests.conftest import acknowledge, close_loop, resolve

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('owned')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;"


def form_data(**overrides) -> dict:
    data = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "description": "I was charged twice for one order.\nThe second charge is still there.",
        "occurred_on": "2026-01-15",
        "touchpoint": "website",
        "category": "card-payments",
        "remedy_sought": "Refund the second charge.",
        "website": "",
    }
    data.update(overrides)
    return data


def text_of(response) -> str:
    return response.content.decode()


@pytest.fixture
def portal(groups, touchpoint, category):
    return Client()


# -- the complaint form --------------------------------------------------------------------


def test_the_root_is_the_complaint_form_with_a_label_for_every_field(portal):
    page = portal.get("/")

    assert page.status_code == 200
    html = text_of(page)
    assert 'name="csrfmiddlewaretoken"' in html
    for field in ("name", "email", "description", "occurred_on", "touchpoint", "category"):
        assert f'<label for="id_{field}">' in html
    assert 'aria-required="true"' in html


def test_a_complaint_sent_through_the_form_is_taken_in_and_confirmed(portal, team):
    answer = portal.post("/", form_data())

    assert answer.status_code == 302
    complaint = Complaint.objects.get()
    token = answer["Location"].removeprefix("/complaint/received/").removesuffix("/")
    assert complaint_of_tracking_token(token) == complaint.pk
    assert complaint.channel == Channel.WEB
    assert complaint.customer.name == "Ada Lovelace"
    assert complaint.customer.email == "ada@example.com"
    assert complaint.subject == "I was charged twice for one order."
    assert complaint.touchpoint.slug == "website"
    assert complaint.category.slug == "card-payments"
    # Routed by the category to its team, whose agents see it in their queue.
    assert complaint.team == team
    assert complaint.remedy_sought == "Refund the second charge."
    assert str(complaint.occurred_on) == "2026-01-15"
    received = ComplaintEvent.objects.get(complaint=complaint, type=EventType.RECEIVED)
    assert received.actor.username == PORTAL_ACCOUNT_USERNAME
    assert received.actor.is_active is False

    confirmation = portal.get(answer["Location"])
    assert confirmation.status_code == 200
    assert complaint.reference in text_of(confirmation)
    assert f"/track/{token}/" in text_of(confirmation)


def test_a_long_first_line_makes_a_shortened_subject(portal):
    portal.post("/", form_data(description="x" * 300))

    subject = Complaint.objects.get().subject
    assert len(subject) == 80
    assert subject.endswith("…")


def test_a_long_first_line_is_cut_at_a_word_boundary_with_an_ellipsis(portal):
    story = "My card was charged twice for the same order on Monday and again on Tuesday morning"
    portal.post("/", form_data(description=f"{story}\nThe rest of the story."))

    subject = Complaint.objects.get().subject
    assert subject == "My card was charged twice for the same order on Monday and again on Tuesday…"
    assert len(subject) <= 80


def test_an_empty_form_says_what_each_required_field_needs(portal):
    answer = portal.post("/", {"name": "  ", "website": ""})

    assert answer.status_code == 400
    html = text_of(answer)
    assert "Tell us your name, so we know how to address you." in html
    assert "Give your email address: it is how we will reply to you." in html
    assert "Tell us what happened." in html
    assert 'aria-invalid="true"' in html
    assert "There is a problem" in html
    assert not Complaint.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "ada-at-example", "Enter an email address like name@example.com."),
        ("occurred_on", "15/01/2026x", "Enter a date like 2026-03-31."),
        ("touchpoint", "the-moon", "Choose one of the places in the list."),
        ("category", "nope", "Choose one of the subjects in the list."),
    ],
)
def test_a_wrong_field_is_named_with_what_to_do(portal, field, value, message):
    answer = portal.post("/", form_data(**{field: value}))

    assert answer.status_code == 400
    assert message in text_of(answer)
    # What was typed is kept.
    assert "I was charged twice for one order." in text_of(answer)
    assert not Complaint.objects.exists()


def test_a_date_in_the_future_is_refused(portal):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    answer = portal.post("/", form_data(occurred_on=tomorrow))

    assert answer.status_code == 400
    assert f"The date {tomorrow} is in the future; give the day it happened." in text_of(answer)


def test_the_form_needs_its_csrf_token(groups, touchpoint, category):
    strict = Client(enforce_csrf_checks=True)

    answer = strict.post("/", form_data())

    assert answer.status_code == 403
    assert not Complaint.objects.exists()


def test_a_robot_that_fills_the_hidden_field_is_refused(portal):
    answer = portal.post("/", form_data(website="http://spam.example"))

    assert answer.status_code == 400
    assert "This form could not be sent." in text_of(answer)
    assert not Complaint.objects.exists()


def test_the_form_is_rate_limited_per_address(portal, settings):
    settings.REDRESS_PORTAL_RATE_LIMIT = 2
    for n in range(2):
        assert portal.post("/", form_data(email=f"a{n}@example.com")).status_code == 302

    refused = portal.post("/", form_data(email="a3@example.com"))

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    assert "Please try again in" in text_of(refused)
    assert "a3@example.com" in text_of(refused)  # kept for the retry
    assert Complaint.objects.count() == 2
    # Another address is counted on its own.
    other = portal.post("/", form_data(email="b@example.com"), REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302


def test_a_new_forwarded_for_per_request_does_not_escape_the_limit(portal, settings):
    # No trusted proxy (the default): X-Forwarded-For is the client's own words.
    settings.REDRESS_PORTAL_RATE_LIMIT = 2
    answers = [
        portal.post("/", form_data(email=f"x{n}@example.com"), HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        for n in range(4)
    ]

    assert [a.status_code for a in answers] == [302, 302, 429, 429]
    assert Complaint.objects.count() == 2


def test_a_form_already_accepted_sent_again_is_not_counted(portal, settings):
    # The customer files up to the limit, then refreshes the last confirmation's form post
    # (back and resend): the same one-time token and words get the first confirmation.
    settings.REDRESS_PORTAL_RATE_LIMIT = 2
    sent = [form_data(email=f"r{n}@example.com", submission=f"token-{n}") for n in range(2)]
    firsts = [portal.post("/", data) for data in sent]
    assert [a.status_code for a in firsts] == [302, 302]

    again = [portal.post("/", sent[1]) for _n in range(3)]

    assert [a.status_code for a in again] == [302, 302, 302]
    assert {a["Location"] for a in again} == {firsts[1]["Location"]}
    assert Complaint.objects.count() == 2
    # A genuinely new complaint beyond the limit is still refused, saying when to retry.
    refused = portal.post("/", form_data(email="new@example.com", submission="token-new"))
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    assert "Please try again in" in text_of(refused)
    assert Complaint.objects.count() == 2


def test_an_accepted_form_sent_again_with_other_words_is_not_counted(portal, settings):
    settings.REDRESS_PORTAL_RATE_LIMIT = 1
    assert portal.post("/", form_data(submission="token-1")).status_code == 302

    edited = portal.post("/", form_data(submission="token-1", remedy_sought="An apology."))

    # Told it was filed already (not "too many"), with a new token to send it as a new one.
    assert edited.status_code == 409
    assert "This form was already sent" in text_of(edited)
    assert Complaint.objects.count() == 1


# -- the tracking page ---------------------------------------------------------------------


@pytest.fixture
def filed(portal):
    portal.post("/", form_data(description=f"Charged twice {SCRIPT}"))
    complaint = Complaint.objects.get()
    return complaint, f"/track/{tracking_token(complaint.pk)}/"


def test_the_tracking_page_shows_the_story_escaped_and_the_expected_dates(portal, filed):
    complaint, url = filed

    page = portal.get(url)

    assert page.status_code == 200
    html = text_of(page)
    assert complaint.reference in html
    assert SCRIPT not in html
    assert ESCAPED in html
    assert "Received" in html
    assert f'data-socket="/ws/track{url.removeprefix("/track")}"' in html


def test_internal_notes_never_reach_the_tracking_page(portal, filed, agent):
    from recovery.services.messages import message_add

    complaint, url = filed
    message_add(complaint=complaint, actor=agent, body="Customer sounds angry", internal=True)

    assert "Customer sounds angry" not in text_of(portal.get(url))


def test_the_tracking_page_shows_every_message_the_customer_was_sent(
    portal, make_complaint, agent, root_causes
):
    """Acknowledgement, written response, the decision and the loop-closing message, in the
    order they were sent, escaped; never an internal note or a root-cause code."""
    complaint = acknowledge(make_complaint(regulatory_profile="uk_fca_disp"), agent)
    messages.complaint_send_written_response(
        complaint=complaint,
        actor=agent,
        reason=f"We are waiting for the card network {SCRIPT}",
        expected_by=timezone.localdate() + timedelta(days=30),
    )
    messages.message_add(complaint=complaint, actor=agent, body="Grumpy caller", internal=True)
    lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary=f"We refunded the second charge {SCRIPT}",
        root_causes=["billing.duplicate-charge"],
    )
    close_loop(complaint, agent)

    html = text_of(portal.get(f"/track/{tracking_token(complaint.pk)}/"))

    conversation = html[html.index('id="conversation"') :]
    conversation = conversation[: conversation.index("</section>")]
    said = [
        f"We have your complaint {complaint.reference}.",  # the acknowledgement
        f"We are waiting for the card network {ESCAPED}",  # the written response
        "Our decision: Upheld.",  # the final response
        f"We refunded the second charge {ESCAPED}",
        "What we found: A retry in the payment gateway.",  # the loop-closing message
    ]
    positions = [conversation.index(text) for text in said]
    assert positions == sorted(positions)
    for label in ("Acknowledgement", "Written response", "Resolution", "Loop-closing message"):
        assert label in conversation
    assert SCRIPT not in html
    assert "Grumpy caller" not in html
    assert "billing.duplicate-charge" not in html


def test_each_resolution_stays_on_the_tracking_page_after_a_reopening(
    portal, make_complaint, agent, supervisor, root_causes
):
    complaint = resolve(acknowledge(make_complaint(), agent), agent)
    lifecycle.complaint_reopen(complaint=complaint, actor=supervisor, reason="New evidence")
    lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="partly_upheld",
        summary="We refunded half of the fee as well.",
        root_causes=["billing.refund-delay"],
    )

    html = text_of(portal.get(f"/track/{tracking_token(complaint.pk)}/"))

    first = html.index("Refunded the duplicate charge.")
    assert html.index("Our decision: Upheld.") < first
    assert first < html.index("Our decision: Partly upheld.")
    assert html.index("Our decision: Partly upheld.") < html.index("We refunded half")


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "eyJjIjoxfQ:1vA:forged-signature",
        "x" * 500,
        signing.dumps({"c": 10**9}, salt=TRACKING_SALT, compress=True),
        signing.dumps({"c": "1"}, salt=TRACKING_SALT, compress=True),
        signing.dumps({"c": 1}, salt="another.purpose", compress=True),
    ],
    # Signed tokens carry a timestamp: fixed ids keep the collection identical across the
    # xdist workers, which collect at different instants.
    ids=[
        "nonsense",
        "forged-signature",
        "far-too-long",
        "no-such-complaint",
        "id-not-an-integer",
        "signed-for-another-purpose",
    ],
)
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_bad_tracking_link_is_not_found(portal, filed, token, debug, settings):
    # DEBUG on (``./redress run``) must not swap the portal's page for Django's debug 404.
    settings.DEBUG = debug
    for path in (f"/track/{token}/", f"/complaint/received/{token}/"):
        answer = portal.get(path)
        assert answer.status_code == 404
        assert "portal/link_invalid.html" in [t.name for t in answer.templates]
    assert portal.post(f"/track/{token}/reply/", {"body": "hello"}).status_code == 404
    assert portal.post(f"/track/{token}/escalate/", {"reason": "why"}).status_code == 404
    assert not Message.objects.filter(body="hello").exists()


def test_a_tracking_link_opens_its_own_complaint_only(portal, filed):
    complaint, _url = filed
    portal.post("/", form_data(email="other@example.com", description="Another story"))
    other = Complaint.objects.exclude(pk=complaint.pk).get()

    page = text_of(portal.get(f"/track/{tracking_token(other.pk)}/"))

    assert other.reference in page
    assert complaint.reference not in page
    assert "Charged twice" not in page


def test_the_customer_replies_from_the_tracking_page(portal, filed):
    complaint, url = filed

    empty = portal.post(f"{url}reply/", {"body": "   "})
    assert empty.status_code == 400
    assert "Write your message before sending it." in text_of(empty)

    sent = portal.post(f"{url}reply/", {"body": f"Any news? {SCRIPT}"}, follow=True)
    assert sent.redirect_chain == [(url, 302)]
    assert "Your message was sent." in text_of(sent)
    assert ESCAPED in text_of(sent)
    reply = Message.objects.get(complaint=complaint, kind="reply")
    assert reply.direction == MessageDirection.INBOUND
    assert reply.channel == Channel.WEB


def test_a_withdrawn_complaint_takes_no_reply_and_says_why(portal, filed, agent):
    complaint, url = filed
    complaint_withdraw(complaint=complaint, actor=agent, reason="Sorted in store")

    page = portal.get(url)
    assert "Write to us" not in text_of(page)
    refused = portal.post(f"{url}reply/", {"body": "Hello again"})
    assert refused.status_code == 409
    assert "was withdrawn; it takes no more messages" in text_of(refused)


def test_the_customer_asks_for_escalation(portal, filed):
    complaint, url = filed

    empty = portal.post(f"{url}escalate/", {"reason": ""})
    assert empty.status_code == 400
    assert "Tell us why you are asking for escalation." in text_of(empty)

    asked = portal.post(f"{url}escalate/", {"reason": "Nobody answers me"}, follow=True)
    assert "Your request for escalation was recorded" in text_of(asked)
    request = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ESCALATION_REQUESTED)
    assert request.parameters == {"reason": "Nobody answers me"}
    assert request.actor is None


def test_a_closed_complaint_cannot_be_escalated(portal, filed, agent, root_causes):
    complaint, url = filed
    complaint = resolve(acknowledge(complaint, agent), agent)

    assert "Ask for escalation" not in text_of(portal.get(url))
    refused = portal.post(f"{url}escalate/", {"reason": "Too late?"})
    assert refused.status_code == 409
    assert "it can no longer be escalated" in text_of(refused)


def test_the_tracking_forms_need_their_csrf_token(filed):
    _complaint, url = filed
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(f"{url}reply/", {"body": "hi"}).status_code == 403
    assert strict.post(f"{url}escalate/", {"reason": "hi"}).status_code == 403


# -- the survey ----------------------------------------------------------------------------


@pytest.fixture
def survey_url(filed, agent, root_causes):
    complaint, url = filed
    close_loop(resolve(acknowledge(complaint, agent), agent), agent)
    survey = Survey.objects.get(complaint=complaint)
    return f"/survey/{surveys.survey_token(survey)}/", url, survey


def test_the_tracking_page_links_the_survey_once_the_loop_is_closed(portal, survey_url):
    _link, tracking, survey = survey_url

    # The link is signed with the time it was made, so it is compared by what it opens.
    found = re.findall(r'href="/survey/([^/"]+)/"', text_of(portal.get(tracking)))

    assert len(found) == 1
    assert surveys.survey_for_token(found[0]) == survey


def test_opening_the_survey_records_nothing(portal, survey_url):
    link, _tracking, survey = survey_url

    page = portal.get(link)

    assert page.status_code == 200
    assert "How satisfied are you" in text_of(page)
    survey.refresh_from_db()
    assert survey.submitted_at is None


def test_the_survey_says_which_answer_is_missing_or_out_of_range(portal, survey_url):
    link, _tracking, survey = survey_url

    answer = portal.post(link, {"csat": "9", "nps": "10"})

    assert answer.status_code == 400
    html = text_of(answer)
    assert "Select a valid choice. 9 is not one of the available choices." in html
    assert "Choose a number from 1 to 7." in html
    survey.refresh_from_db()
    assert survey.submitted_at is None


def test_the_survey_is_answered_once(portal, survey_url):
    link, tracking, survey = survey_url

    answer = portal.post(link, {"csat": "4", "ces": "6", "nps": "9", "comment": SCRIPT})
    assert answer.status_code == 302
    survey.refresh_from_db()
    assert (survey.csat, survey.ces, survey.nps, survey.comment) == (4, 6, 9, SCRIPT)

    again = portal.post(link, {"csat": "1", "ces": "1", "nps": "0"})
    assert again.status_code == 200
    assert "already been answered" in text_of(again)
    survey.refresh_from_db()
    assert survey.csat == 4
    assert link not in text_of(portal.get(tracking))


@pytest.mark.parametrize("token", ["nonsense", "x" * 500])
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_bad_survey_link_is_not_found(portal, token, debug, settings):
    settings.DEBUG = debug
    for path in (f"/survey/{token}/", f"/survey/{token}/thanks/"):
        answer = portal.get(path)
        assert answer.status_code == 404
        assert "portal/link_invalid.html" in [t.name for t in answer.templates]
    assert portal.post(f"/survey/{token}/", {"csat": "5"}).status_code == 404


def test_a_tracking_token_does_not_open_a_survey(portal, survey_url):
    _link, _tracking, survey = survey_url

    assert portal.get(f"/survey/{tracking_token(survey.complaint_id)}/").status_code == 404


def test_the_state_shown_to_the_customer_follows_the_complaint(portal, filed, agent):
    complaint, url = filed
    acknowledge(complaint, agent)

    html = text_of(portal.get(url))

    assert str(State.ACKNOWLEDGED.label) in html
    assert "What happens next" in html  # the acknowledgement message


def test_the_customers_words_on_the_tracking_page_cannot_reorder_the_page(portal):
    # U+202E (right-to-left override) in a message would run on into "You · Email · date".
    portal.post("/", form_data(description="\u202eevil words"))
    complaint = Complaint.objects.get()
    page = portal.get(f"/track/{tracking_token(complaint.pk)}/").content.decode()

    # Nor reorder the message itself: the override is shown as a marker, not applied.
    assert "\u202e" not in page
    assert (
        '<div class="body" dir="auto"><span class="bidi-control" title="right-to-left override '
        '(U+202E), shown, not applied">\u27e8U+202E\u27e9</span>evil words</div>'
    ) in page
