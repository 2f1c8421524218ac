"""The desk's queues: urgency order, the filters, the search box, and a page that costs the
same queries whatever it filters or finds.

Personas: ``agent`` works ``team``; ``other_agent`` works ``other_team``; ``customer_user``
and ``other_customer_user`` complain. Each complaint's clocks are written by ``clocks_say``
and its deadline copy refreshed by the clocks service, as a sweep would leave them.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation.models import Clock, ClockKind, ClockState
from escalation.services.snapshot import complaints_refresh_sla
from recovery.models import Category, Complaint, ComplaintRootCause, Customer, Urgency
from recovery.services.lifecycle import complaint_withdraw
from recovery.services.messages import message_add
from tests.desk.conftest import signed_in
from tests.desk.test_desk import QUEUE_QUERIES, rows_of, text_of
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def clocks_say(complaint, *clocks):
    """Replace ``complaint``'s clocks by ``clocks`` — dicts of kind, state, due (from now),
    warn (from now), statutory — and refresh its deadline copy."""
    now = timezone.now()
    Clock.objects.filter(complaint=complaint).delete()
    for clock in clocks:
        due = now + clock["due"]
        state = clock.get("state", ClockState.RUNNING)
        Clock.objects.create(
            complaint=complaint,
            kind=clock.get("kind", ClockKind.RESOLVE),
            state=state,
            regulatory_profile="uk_fca_disp" if clock.get("statutory") else "",
            basis="elapsed",
            target_seconds=86_400,
            started_at=now - timedelta(days=10),
            due_at=due,
            warn_at=now + clock.get("warn", clock["due"] - HOUR),
            breached_at=due if state == ClockState.BREACHED else None,
        )
    complaints_refresh_sla([complaint.pk])
    complaint.refresh_from_db()
    return complaint


def breached(kind=ClockKind.RESOLVE, *, hours_ago, statutory=False):
    return {
        "kind": kind,
        "state": ClockState.BREACHED,
        "due": -hours_ago * HOUR,
        "statutory": statutory,
    }


def running(kind=ClockKind.RESOLVE, *, in_hours, warn_in_hours=None, statutory=False):
    warn = (in_hours - 1 if warn_in_hours is None else warn_in_hours) * HOUR
    return {"kind": kind, "due": in_hours * HOUR, "warn": warn, "statutory": statutory}


# -- urgency order ------------------------------------------------------------------------


def test_the_queue_puts_breached_first_statutory_before_internal_then_at_risk_running_none(
    agent, make_complaint
):
    make = make_complaint
    none = clocks_say(make(subject="No deadline"))
    soon = clocks_say(make(subject="Due soon"), running(in_hours=5))
    later = clocks_say(make(subject="Due later"), running(in_hours=50))
    # At risk, although its deadline is further off than the one due soon.
    at_risk = clocks_say(make(subject="At risk"), running(in_hours=30, warn_in_hours=-1))
    internal_old = clocks_say(
        make(subject="Internal, 9 h over"),
        breached(hours_ago=9),
        running(ClockKind.CLOSE_LOOP, in_hours=2),
    )
    internal_new = clocks_say(make(subject="Internal, 1 h over"), breached(hours_ago=1))
    statutory_new = clocks_say(
        make(subject="Statutory, 2 h over"),
        breached(hours_ago=2, statutory=True),
        breached(ClockKind.ACKNOWLEDGE, hours_ago=40),
    )
    statutory_old = clocks_say(
        make(subject="Statutory, 5 h over"), breached(hours_ago=5, statutory=True)
    )
    # Its clock passed its deadline after its urgency was written: the sweeper has not
    # breached it yet. It sorts among the breached all the same once the copy is refreshed.
    overdue_unswept = clocks_say(make(subject="Overdue, not swept"), running(in_hours=-3))

    order = rows_of(text_of(signed_in(agent).get("/desk/team/")))

    assert order == [
        statutory_old.reference,  # statutory breach, most overdue first
        statutory_new.reference,  # ... though an internal deadline is 40 h over
        internal_old.reference,  # internal breaches, most overdue first
        overdue_unswept.reference,
        internal_new.reference,
        at_risk.reference,
        soon.reference,  # then by the next deadline
        later.reference,
        none.reference,  # no deadline last
    ]
    assert [
        Complaint.objects.get(pk=c.pk).urgency for c in (statutory_old, internal_old, at_risk)
    ] == [Urgency.STATUTORY_BREACHED, Urgency.BREACHED, Urgency.AT_RISK]


def test_each_row_says_which_deadline_is_breached_and_by_how_much(agent, make_complaint):
    internal = clocks_say(
        make_complaint(subject="Internal"),
        breached(hours_ago=3.01),
        running(ClockKind.CLOSE_LOOP, in_hours=30),
    )
    statutory = clocks_say(
        make_complaint(subject="Statutory"),
        breached(ClockKind.ACKNOWLEDGE, hours_ago=60),
        breached(hours_ago=28.01, statutory=True),
    )
    clocks_say(make_complaint(subject="Calm"), running(in_hours=30))

    html = text_of(signed_in(agent).get("/desk/team/"))

    assert '<strong class="overdue">Resolve overdue by 3 h</strong>' in html
    # The statutory breach is the one named, though the internal one is older.
    assert '<strong class="overdue">Resolve (statutory) overdue by 1 day 4 h</strong>' in html
    assert html.count('class="overdue"') == 2
    assert rows_of(html)[:2] == [statutory.reference, internal.reference]


def test_the_sweep_moves_a_complaint_up_when_its_clock_warns_or_breaches(agent, make_complaint):
    from escalation.services.sweeper import sweep

    calm = clocks_say(make_complaint(subject="Calm"), running(in_hours=20))
    turning = clocks_say(make_complaint(subject="Turning"), running(in_hours=30))
    client = signed_in(agent)
    assert rows_of(text_of(client.get("/desk/team/"))) == [calm.reference, turning.reference]

    now = timezone.now()
    Clock.objects.filter(complaint=turning).update(warn_at=now - HOUR, due_at=now - HOUR / 60)
    sweep(now=now)

    assert Complaint.objects.get(pk=turning.pk).urgency == Urgency.BREACHED
    assert rows_of(text_of(client.get("/desk/team/"))) == [turning.reference, calm.reference]


# -- filters ------------------------------------------------------------------------------


def test_each_filter_narrows_the_queue_and_is_a_bookmarkable_link(
    agent, other_agent, supervisor, make_complaint, team, other_team
):
    cards = Category.objects.create(name="Cards", slug="cards")
    loans = Category.objects.create(name="Loans", slug="loans")
    supervisor.teams.add(other_team)
    first = make_complaint(subject="First")
    second = make_complaint(subject="Second", routed_to=other_team)
    third = make_complaint(subject="Third")
    Complaint.objects.filter(pk=first.pk).update(
        severity="high",
        regulatory_profile="uk_fca_disp",
        assignee=supervisor,
        category=cards,
        channel="email",
    )
    Complaint.objects.filter(pk=second.pk).update(
        severity="low", assignee=other_agent, category=loans, channel="phone"
    )
    Complaint.objects.filter(pk=third.pk).update(
        severity="medium", channel="web", category=None, assignee=None, regulatory_profile=""
    )
    client = signed_in(supervisor)

    def found(**params):
        answer = client.get("/desk/team/", params)
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    everything = sorted(c.reference for c in (first, second, third))
    assert found() == everything
    assert found(team=team.pk) == sorted([first.reference, third.reference])
    assert found(team=other_team.pk) == [second.reference]
    assert found(category=cards.pk) == [first.reference]
    assert found(channel="phone") == [second.reference]
    assert found(severity="high") == [first.reference]
    assert found(profile="uk_fca_disp") == [first.reference]
    assert found(profile="none") == sorted([second.reference, third.reference])
    assert found(assignee="me") == [first.reference]
    assert found(assignee="none") == [third.reference]
    assert found(assignee=other_agent.username) == [second.reference]
    assert found(team=team.pk, assignee="none", severity="medium") == [third.reference]
    assert found(state="withdrawn") == []
    # The choices come from the configuration: teams and categories by name.
    html = text_of(client.get("/desk/team/", {"category": cards.pk}))
    assert f'<option value="{cards.pk}" selected>Cards</option>' in html
    assert f'<option value="{loans.pk}">Loans</option>' in html
    assert '<option value="none">Unassigned</option>' in html
    assert "No complaint matches these filters." in text_of(
        client.get("/desk/team/", {"channel": "letter"})
    )
    # The assignee's name links to their complaints.
    assert f'href="?assignee={other_agent.username}"' in text_of(client.get("/desk/team/"))


def test_the_unassigned_tab_and_my_queue_take_the_same_filters(agent, make_complaint, other_team):
    mine_high = make_complaint(subject="Mine, high")
    mine_low = make_complaint(subject="Mine, low")
    nobody_high = make_complaint(subject="Nobody's, high")
    Complaint.objects.filter(pk__in=[mine_high.pk, mine_low.pk]).update(assignee=agent)
    Complaint.objects.filter(pk__in=[mine_high.pk, nobody_high.pk]).update(severity="high")
    client = signed_in(agent)

    assert rows_of(text_of(client.get("/desk/", {"severity": "high"}))) == [mine_high.reference]
    assert rows_of(text_of(client.get("/desk/unassigned/", {"severity": "high"}))) == [
        nobody_high.reference
    ]
    assert rows_of(text_of(client.get("/desk/unassigned/", {"assignee": "me"}))) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"team": "999999"}, "There is no team with the id “999999”."),
        ({"team": "billing"}, "There is no team with the id “billing”."),
        ({"category": "-1"}, "There is no category with the id “-1”."),
        ({"channel": "pigeon"}, "There is no channel called “pigeon”."),
        ({"severity": "apocalyptic"}, "There is no severity called “apocalyptic”."),
        ({"profile": "mars"}, "There is no regulatory profile “mars”."),
        ({"state": "sideways"}, "There is no state called “sideways”."),
        ({"assignee": "<script>"}, "Choose Me, Unassigned or a person&#x27;s username."),
        ({"page": "0"}, "Pages are numbered from 1."),
        ({"page": "x"}, "A page is a number."),
    ],
)
def test_a_wrong_filter_is_said_on_the_page_and_the_others_still_apply(
    agent, make_complaint, params, message
):
    high = make_complaint(subject="High")
    medium = make_complaint(subject="Medium")
    Complaint.objects.filter(pk=high.pk).update(severity="high", channel="web")
    Complaint.objects.filter(pk=medium.pk).update(severity="medium", channel="email")
    # A second, right filter beside the wrong one.
    right = {"channel": "web"} if "severity" in params else {"severity": "high"}

    answer = signed_in(agent).get("/desk/team/", {**params, **right})

    assert answer.status_code == 200
    html = text_of(answer)
    assert "Some filters were not applied" in html
    assert message in html
    assert rows_of(html) == [high.reference]


# -- search -------------------------------------------------------------------------------


def test_search_finds_by_name_email_phone_words_and_messages(
    agent, make_complaint, customer_user, other_customer_user
):
    parcel = make_complaint(
        by=other_customer_user,
        subject="Parcel never arrived",
        description="The courier left it at the wrong house.",
    )
    Customer.objects.filter(pk=parcel.customer_id).update(phone="+44 (20) 7946-0123")
    refund = make_complaint(subject="Refund", description="I was charged for a parcel twice.")
    noted = make_complaint(subject="Account closed", description="Nobody told me why.")
    message_add(complaint=noted, actor=agent, body="Spoke to the branch about the overdraft.")
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text})
        assert answer.status_code == 200
        return rows_of(text_of(answer))

    assert search("Other_customer") == [parcel.reference]  # part of the name
    assert search("other_customer@example") == [parcel.reference]
    # The digits, whatever the spaces and brackets on either side.
    assert search("20 7946 0123") == [parcel.reference]
    assert search("(20)79460123") == [parcel.reference]
    assert search("7946-0123") == [parcel.reference]
    assert search("courier") == [parcel.reference]  # a word of the description
    assert search("couriers") == [parcel.reference]  # by its stem
    assert search("overdraft") == [noted.reference]  # a word of a message
    assert search('"never arrived"') == [parcel.reference]
    assert search("parcel -courier") == [refund.reference]
    # Ranked: the subject (weight A) before the description (weight B).
    assert search("parcel") == [parcel.reference, refund.reference]
    assert search("zebra") == []


def test_a_number_finds_phone_numbers_and_the_same_number_in_the_text(
    agent, make_complaint, customer_user, other_customer_user
):
    """A query of digits may be a telephone number or a number written in the complaint (an
    order, a parcel, a number the customer gave in a message): it finds both."""
    parcel = make_complaint(subject="Lost parcel", description="Tracking says parcel 998877.")
    Customer.objects.filter(pk=parcel.customer_id).update(phone="+44 (20) 7946-0123")
    called = make_complaint(by=other_customer_user, subject="Call me back")
    message_add(complaint=called, actor=agent, body="Please ring me on 020 7946 0999 today.")
    dashed = make_complaint(by=other_customer_user, subject="Ring back on 020-7946-0555")
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text, "state": "all"})
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    assert search("998877") == [parcel.reference]  # a number of the description
    assert search("020 7946 0999") == [called.reference]  # a number of a message
    assert search("(020) 7946-0999") == [called.reference]  # whatever the separators
    assert search("020 7946 0555") == [dashed.reference]  # written with dashes
    assert search("020-7946-0555") == [dashed.reference]
    # The customer's number still finds its complaints, and only theirs.
    assert search("20 7946 0123") == [parcel.reference]
    assert search("123456") == []


def test_a_messages_words_follow_the_message_when_it_changes_or_goes(agent, make_complaint):
    """The complaint's copy of its messages' words (``message_document``, kept by a trigger
    on the messages) follows an insert, an edit, a move to another complaint and a delete."""
    from recovery.models import Message

    first = make_complaint(subject="Account closed")
    second = make_complaint(subject="Card blocked")
    client = signed_in(agent)

    def search(text):
        return rows_of(text_of(client.get("/desk/team/", {"q": text})))

    message_add(complaint=first, actor=agent, body="Spoke to the branch about the overdraft.")
    message_add(complaint=first, actor=agent, body="The branch manager will call back.")
    assert search("overdraft") == [first.reference]
    assert search("manager") == [first.reference]
    note = Message.objects.get(body__contains="overdraft")

    Message.objects.filter(pk=note.pk).update(body="Spoke to the branch about the mortgage.")
    assert search("overdraft") == []
    assert search("mortgage") == [first.reference]
    Message.objects.filter(pk=note.pk).update(complaint=second)
    assert search("mortgage") == [second.reference]
    assert search("manager") == [first.reference]  # the other message stays where it was
    Message.objects.filter(pk=note.pk).delete()
    assert search("mortgage") == []


def test_words_in_many_complaints_rank_the_most_urgent_matches_only(
    agent, make_complaint, monkeypatch
):
    from desk import selectors

    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 2)
    # Most urgent first: the breached one, then the one due soonest.
    breached_one = clocks_say(
        make_complaint(subject="Late", description="parcel"), breached(hours_ago=2)
    )
    soon = clocks_say(make_complaint(subject="Soon", description="parcel"), running(in_hours=2))
    # The best match (the word in its subject), but the least urgent: not among the two.
    clocks_say(make_complaint(subject="Parcel", description="parcel"), running(in_hours=90))

    rows = rows_of(text_of(signed_in(agent).get("/desk/team/", {"q": "parcel"})))

    assert rows == [breached_one.reference, soon.reference]


def test_a_search_for_words_reads_its_matches_once_for_the_page_and_the_count(
    agent, make_complaint, monkeypatch
):
    """The matches of a search for words are found once, with their rank, and give the page
    and the count: a word in thousands of complaints was found twice, and each of the page's
    1,001 candidates looked up again to be ranked."""
    from desk import desk

    monkeypatch.setattr(desk, "QUEUE_PAGE_SIZE", 2)
    late = clocks_say(make_complaint(subject="Late", description="parcel"), breached(hours_ago=2))
    soon = clocks_say(make_complaint(subject="Soon", description="parcel"), running(in_hours=2))
    best = clocks_say(make_complaint(subject="Parcel", description="parcel"), running(in_hours=90))
    make_complaint(subject="Unrelated", description="A card was blocked.")
    client = signed_in(agent)
    client.get("/desk/team/", {"q": "parcel"})  # warm: session, permissions caches

    with CaptureQueriesContext(connection) as first:
        answer = text_of(client.get("/desk/team/", {"q": "parcel"}))
    second = text_of(client.get("/desk/team/", {"q": "parcel", "page": 2}))
    with CaptureQueriesContext(connection) as beyond:
        empty = text_of(client.get("/desk/team/", {"q": "parcel", "page": 3}))

    # Best match first (the word in the subject), then by urgency; the pages follow on.
    assert rows_of(answer) + rows_of(second) == [best.reference, late.reference, soon.reference]
    assert "3 complaints, best match first" in answer
    assert rows_of(empty) == []
    # An empty page sends the same queries; the words are matched in one query of each.
    assert len(beyond) == len(first)
    searched = [query["sql"] for query in first.captured_queries if "@@" in query["sql"]]
    assert len(searched) == 1


def test_the_queue_names_the_teams_read_with_the_user_and_follows_a_change_of_team(
    agent, make_complaint, other_team
):
    """The user's teams come with the user (one query for both, each request) and the queue
    names them as values, so that PostgreSQL counts their complaints from its statistics;
    a change of team shows on the next page."""
    ours = make_complaint(subject="Ours", description="parcel")
    theirs = make_complaint(subject="Theirs", description="parcel")
    Complaint.objects.filter(pk=theirs.pk).update(team=other_team)
    client = signed_in(agent)
    client.get("/desk/team/")  # warm: session, permissions caches

    with CaptureQueriesContext(connection) as page:
        assert rows_of(text_of(client.get("/desk/team/", {"q": "parcel"}))) == [ours.reference]
    queue_reads = [query["sql"] for query in page.captured_queries if "@@" in query["sql"]]
    other_team.members.add(agent)
    found = rows_of(text_of(client.get("/desk/team/", {"q": "parcel"})))

    assert sorted(found) == sorted([ours.reference, theirs.reference])
    assert queue_reads
    assert all("recovery_team_members" not in sql for sql in queue_reads)


@pytest.mark.sqlite
def test_search_finds_a_closed_complaint_by_reference_and_text_on_any_database(
    agent, make_complaint
):
    closed = make_complaint(subject="Lost luggage", description="Bag went to Lisbon.")
    complaint_withdraw(complaint=closed, actor=agent, reason="Found it")
    open_one = make_complaint(subject="Late train", description="Two hours late.")
    message_add(complaint=open_one, actor=agent, body="Checked the timetable.")
    client = signed_in(agent)

    def search(text, **params):
        return rows_of(text_of(client.get("/desk/team/", {"q": text, **params})))

    assert search(closed.reference) == [closed.reference]
    assert search(closed.reference.lower()) == [closed.reference]
    assert search("luggage") == []  # words search the open complaints, as filtered
    assert search("luggage", state="all") == [closed.reference]
    assert search("timetable") == [open_one.reference]
    assert search("late") == [open_one.reference]


@pytest.mark.sqlite
def test_a_number_finds_phone_numbers_and_the_text_on_any_database(agent, make_complaint):
    parcel = make_complaint(subject="Lost parcel", description="Tracking says parcel 998877.")
    called = make_complaint(subject="Call me back")
    message_add(complaint=called, actor=agent, body="Please ring me on 020 7946 0999 today.")
    client = signed_in(agent)

    def search(text):
        return rows_of(text_of(client.get("/desk/team/", {"q": text, "state": "all"})))

    assert search("998877") == [parcel.reference]
    assert search("020 7946 0999") == [called.reference]
    assert search("123456") == []


@pytest.mark.sqlite
def test_the_queue_orders_by_urgency_on_any_database(agent, make_complaint):
    calm = clocks_say(make_complaint(subject="Calm"), running(in_hours=5))
    late = clocks_say(make_complaint(subject="Late"), breached(hours_ago=2))
    legal = clocks_say(make_complaint(subject="Legal"), breached(hours_ago=1, statutory=True))

    assert rows_of(text_of(signed_in(agent).get("/desk/team/"))) == [
        legal.reference,
        late.reference,
        calm.reference,
    ]


# -- cost -----------------------------------------------------------------------------------


def test_every_filter_and_search_costs_the_same_queries(
    agent, make_complaint, customer_user, team, root_causes
):
    complaints = [make_complaint() for _ in range(3)]
    clocks_say(complaints[0], breached(hours_ago=2, statutory=True))
    Customer.objects.filter(pk=complaints[0].customer_id).update(phone="020 7946 0000")
    message_add(complaint=complaints[1], actor=agent, body="Called back about the card.")
    category = Category.objects.create(name="Cards", slug="cards")
    client = signed_in(agent)
    client.get("/desk/team/")  # warm: session, permissions caches
    pages = [
        "/desk/team/",
        f"/desk/team/?team={team.pk}&severity=medium&channel=web&profile=none",
        "/desk/team/?assignee=none",
        f"/desk/team/?assignee=me&category={category.pk}",
        "/desk/team/?team=999&channel=pigeon",
        "/desk/team/?q=charged",
        "/desk/team/?q=card",
        "/desk/team/?q=20+7946+0000",
        "/desk/team/?q=998877",
        "/desk/team/?q=57",
        "/desk/team/?q=duplicate+charge",
        "/desk/team/?root_cause=billing",
        f"/desk/team/?q={complaints[2].reference}",
        "/desk/unassigned/?severity=high",
        "/desk/?channel=web",
    ]
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        assert len(queries) == QUEUE_QUERIES, (page, [q["sql"] for q in queries])


# -- search: what a caller says ------------------------------------------------------------


@pytest.mark.sqlite
def test_the_start_of_a_reference_or_its_number_finds_the_complaint(agent, make_complaint):
    from recovery.services.references import format_reference

    found = make_complaint(subject="Closed one")
    Complaint.objects.filter(pk=found.pk).update(reference=format_reference(2026, 57))
    complaint_withdraw(complaint=found, actor=agent, reason="Sorted")
    fourth = make_complaint(subject="Fourth")
    Complaint.objects.filter(pk=fourth.pk).update(reference=format_reference(2026, 4))
    forties = make_complaint(subject="Forty-one")
    Complaint.objects.filter(pk=forties.pk).update(reference=format_reference(2026, 41))
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text, "state": "all"})
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    assert search("RDR-2026-000057") == ["RDR-2026-000057"]
    assert search("RDR-2026-57") == ["RDR-2026-000057"]  # the number without its zeros
    # The start of a reference, and the one with that number.
    assert search("RDR-2026-00004") == ["RDR-2026-000004", "RDR-2026-000041"]
    assert search("rdr-2026-00005") == ["RDR-2026-000057"]
    # The number alone, as a caller reads it.
    assert search("000057") == ["RDR-2026-000057"]
    assert search("57") == ["RDR-2026-000057"]
    assert search("4") == ["RDR-2026-000004"]
    assert search("58") == []


@pytest.mark.sqlite
def test_a_name_is_found_by_its_words_in_any_order(agent, make_complaint, customer_user):
    jordan = make_complaint(subject="Late refund")
    Customer.objects.filter(pk=jordan.customer_id).update(name="Jordan Customer")
    client = signed_in(agent)

    def search(text):
        return rows_of(text_of(client.get("/desk/team/", {"q": text, "state": "all"})))

    assert search("Jordan Customer") == [jordan.reference]
    assert search("Customer Jordan") == [jordan.reference]
    assert search("jordan") == [jordan.reference]
    assert search("Customer Morgan") == []


@pytest.mark.sqlite
def test_the_search_syntax_is_the_same_on_any_database(agent, make_complaint):
    """Quotes for a phrase, ``or`` and ``-word``, as PostgreSQL's websearch reads them; on
    SQLite too (each word or phrase anywhere in the text)."""
    premium = make_complaint(subject="Premium account", description="Fees went up.")
    refund = make_complaint(subject="Refund", description="The order was late.")
    ordered = make_complaint(subject="Refund please", description="Refund the order, again.")
    message_add(complaint=ordered, actor=agent, body="Offered a voucher by telephone.")
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text, "state": "all"})
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    assert search('"Premium"') == [premium.reference]
    assert search('"premium account"') == [premium.reference]
    assert search('"account premium"') == []
    assert search("Premium or Refund") == sorted(
        [premium.reference, refund.reference, ordered.reference]
    )
    assert search("refund -order") == []  # both refunds mention an order
    assert search("refund -late") == [ordered.reference]
    assert search("voucher -late") == [ordered.reference]  # a message's words
    assert search('"') == []


@pytest.mark.sqlite
def test_a_uk_number_is_found_in_its_national_or_international_form(
    agent, make_complaint, other_customer_user
):
    """0 and +44 are the same start of a UK number, in the customer's telephone and in the
    text; and the text's separators do not matter on either database."""
    mobile = make_complaint(subject="Card blocked")
    Customer.objects.filter(pk=mobile.customer_id).update(phone="+44 7700 900203")
    landline = make_complaint(by=other_customer_user, subject="Call me")
    Customer.objects.filter(pk=landline.customer_id).update(phone="020 7946 0123")
    dashed = make_complaint(
        by=other_customer_user, subject="Ring back", description="ring me on 020-7946-0999"
    )
    Complaint.objects.filter(pk=dashed.pk).update(customer=CustomerFactory(name="Sam Third"))
    message_add(complaint=dashed, actor=agent, body="Or on +44 7700 900555 after six.")
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text, "state": "all"})
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    assert search("07700 900203") == [mobile.reference]
    assert search("07700900203") == [mobile.reference]
    assert search("+44 7700 900203") == [mobile.reference]
    assert search("+44 20 7946 0123") == [landline.reference]
    assert search("0044 (0)20 7946 0123") == [landline.reference]
    assert search("020 7946 0999") == [dashed.reference]
    assert search("+44 20 7946 0999") == [dashed.reference]
    assert search("07700 900555") == [dashed.reference]
    assert search("07700 900204") == []


@pytest.mark.sqlite
def test_the_root_cause_filter_and_a_search_for_a_causes_name(agent, make_complaint, root_causes):
    """``root_cause=<code>``: complaints resolved with that cause or one under it; a search
    for a cause's name finds them too; an unknown code is said on the page, not ignored."""
    charged = make_complaint(subject="Charged twice")
    complaint_withdraw(complaint=charged, actor=agent, reason="Sorted")
    delayed = make_complaint(subject="Still waiting")
    make_complaint(subject="Unrelated")
    ComplaintRootCause.objects.create(
        complaint=charged, root_cause=root_causes["billing.duplicate-charge"], is_primary=True
    )
    ComplaintRootCause.objects.create(
        complaint=delayed, root_cause=root_causes["billing.refund-delay"], is_primary=True
    )
    client = signed_in(agent)

    def queue(**params):
        answer = client.get("/desk/team/", {"state": "all", **params})
        assert answer.status_code == 200
        return sorted(rows_of(text_of(answer)))

    assert queue(root_cause="billing.duplicate-charge") == [charged.reference]
    assert queue(root_cause="billing") == sorted([charged.reference, delayed.reference])
    assert queue(q="duplicate charge") == [charged.reference]
    assert queue(q="Charge duplicate") == [charged.reference]
    assert queue(q="refund delayed") == [delayed.reference]
    assert queue(q="Billing -waiting") == sorted([charged.reference, delayed.reference])
    assert queue(q="dup charg") == [charged.reference]  # the start of the cause's words
    assert queue(q="uplicate") == []  # not inside a word
    assert queue(q="du") == []  # too short to name a cause alone
    answer = text_of(client.get("/desk/team/", {"state": "all", "root_cause": "weather"}))
    assert "There is no root cause with the code “weather”." in answer


@pytest.mark.sqlite
def test_names_and_text_are_found_whatever_the_case_and_accents(
    agent, make_complaint, other_customer_user
):
    zoe = make_complaint(subject="Card blocked")
    Customer.objects.filter(pk=zoe.customer_id).update(name="Zoë Martín")
    cafe = make_complaint(
        by=other_customer_user, subject="Café closed", description="The ÉCOLE branch shut."
    )
    client = signed_in(agent)

    def search(text):
        answer = client.get("/desk/team/", {"q": text, "state": "all"})
        assert answer.status_code == 200
        return rows_of(text_of(answer))

    assert search("zoe") == [zoe.reference]
    assert search("ZOË") == [zoe.reference]
    assert search("martin zoe") == [zoe.reference]
    assert search("Zoé") == [zoe.reference]
    assert search("café") == [cafe.reference]
    assert search("ÉCOLE") == [cafe.reference]
    assert search("cafe") == [cafe.reference]
    assert search("ecole") == [cafe.reference]


# -- what a newcomer found ------------------------------------------------------------------


def test_a_managers_team_queue_and_unassigned_hold_every_teams_complaints(
    manager, agent, make_complaint, other_team
):
    # A complaints manager is on no team: their Team queue and Unassigned were empty while
    # every other page showed them every complaint.
    ours = make_complaint(subject="Billing's")
    theirs = make_complaint(subject="Delivery's", routed_to=other_team)
    taken = make_complaint(subject="Taken")
    taken.assignee = agent
    taken.save(update_fields=["assignee"])
    client = signed_in(manager)

    team = rows_of(text_of(client.get("/desk/team/")))
    unassigned = rows_of(text_of(client.get("/desk/unassigned/")))
    found = rows_of(text_of(client.get("/desk/team/", {"q": theirs.reference})))

    assert sorted(team) == sorted([ours.reference, theirs.reference, taken.reference])
    assert sorted(unassigned) == sorted([ours.reference, theirs.reference])
    assert found == [theirs.reference]


@pytest.mark.parametrize(
    ("sort", "words"),
    [("", "most urgent first"), ("newest", "newest first"), ("oldest", "oldest first")],
)
def test_the_count_line_and_caption_say_the_order_the_rows_are_in(
    agent, make_complaint, sort, words
):
    make_complaint()
    make_complaint()

    html = text_of(signed_in(agent).get("/desk/team/", {"sort": sort}))

    assert f"2 complaints, {words}</p>" in html
    caption = html[html.index('<caption id="queue-table-1"') :]
    caption = caption[: caption.index("</caption>")]
    assert words in caption
    if sort:
        assert "most urgent" not in caption


def test_a_page_past_the_end_says_so_and_how_many_there_are(agent, make_complaint):
    make_complaint()

    html = text_of(signed_in(agent).get("/desk/team/", {"page": 14, "severity": "high"}))

    assert "There is no page 14: this queue has 1 page." in html
    assert "Nothing in this queue" not in html and "No complaint matches" not in html
    assert 'href="?severity=high&amp;page=1"' in html


def test_an_assignee_nobody_is_called_is_said_and_a_known_one_is_named(agent, make_complaint):
    complaint = make_complaint()
    complaint.assignee = agent
    complaint.save(update_fields=["assignee"])
    agent.first_name, agent.last_name = "Alex", "Agent"
    agent.save(update_fields=["first_name", "last_name"])
    client = signed_in(agent)

    unknown = text_of(client.get("/desk/team/", {"assignee": "nobody"}))
    known = text_of(client.get("/desk/team/", {"assignee": agent.username}))

    assert "No member of staff has the username “nobody”." in unknown
    assert f'<option value="{agent.username}" selected>Alex Agent</option>' in known
    assert rows_of(known) == [complaint.reference]
