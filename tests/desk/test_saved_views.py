"""Saved views of the queue: saving one from the queue's filters, opening it, sharing it with
a team, the refusals (no right to share, wrong filters, a name used twice, too many), the
menu's counts and what they cost, and deleting.

Personas: ``agent`` and ``teammate`` work ``team`` (Billing); ``supervisor`` leads it;
``other_agent`` works ``other_team`` (Delivery) and must never see Billing's views.
"""

import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk import view_counts
from recovery.models import Complaint, SavedView
from recovery.services import saved_views
from tests.desk.conftest import signed_in
from tests.desk.test_desk import QUEUE_QUERIES, rows_of, text_of

pytestmark = pytest.mark.django_db


def save(client, *, name="Phone complaints", scope="team", columns=(), team="", **filters):
    return client.post(
        "/desk/views/new/",
        {"name": name, "scope": scope, "columns": list(columns), "share_with": team, **filters},
    )


def menu_of(html: str) -> dict[str, str]:
    """The saved views' menu: name → the count beside it."""
    nav = re.search(r'<nav aria-label="Saved views".*?</nav>', html, re.S)
    if nav is None:
        return {}
    return dict(re.findall(r'<bdi>([^<]+)</bdi> <span class="count">([^<]+)</span>', nav.group(0)))


def headers_of(html: str) -> list[str]:
    return re.findall(r'<th scope="col">([^<]+)</th>', html)


@pytest.mark.sqlite
def test_an_agent_saves_the_filtered_queue_and_opens_it_with_its_columns(agent, make_complaint):
    phone = make_complaint(subject="By phone", channel="phone")
    make_complaint(subject="By email", channel="email")
    client = signed_in(agent)
    # The queue's link carries its filters to the form.
    queue = text_of(client.get("/desk/team/?channel=phone&sort=newest"))
    assert 'href="/desk/views/new/?scope=team&amp;channel=phone&amp;sort=newest"' in queue
    form = text_of(client.get("/desk/views/new/?scope=team&channel=phone&sort=newest"))
    assert '<input type="hidden" name="channel" value="phone">' in form

    answer = save(client, columns=["deadline", "subject"], channel="phone", sort="newest")

    view = SavedView.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/desk/views/{view.pk}/"
    assert (view.owner, view.team, view.scope) == (agent, None, "team")
    assert view.parameters == {"channel": "phone", "sort": "newest"}
    assert view.columns == ["deadline", "subject"]
    page = text_of(client.get(answer["Location"]))
    assert rows_of(page) == [phone.reference]
    assert headers_of(page) == ["Deadline", "Reference", "Subject"]
    assert "<td><bdi>By phone</bdi></td>" in page
    assert "Customer</th>" not in page
    assert menu_of(page) == {"Phone complaints": "1"}
    assert 'aria-current="page"' in re.search(
        r'<nav aria-label="Saved views".*?</nav>', page, re.S
    ).group(0)


def test_a_view_without_chosen_columns_shows_them_all(agent, make_complaint):
    make_complaint()
    client = signed_in(agent)

    save(client, name="Everything")

    page = text_of(client.get(f"/desk/views/{SavedView.objects.get().pk}/"))
    assert headers_of(page) == [
        "Deadline", "Reference", "Subject", "Customer", "State", "Level", "Team", "Assignee",
        "Received",
    ]  # fmt: skip


@pytest.mark.sqlite
def test_the_view_keeps_its_sort(agent, make_complaint):
    first = make_complaint(subject="First")
    second = make_complaint(subject="Second")
    client = signed_in(agent)

    save(client, name="Oldest", sort="oldest")
    save(client, name="Newest", sort="newest")

    oldest, newest = (SavedView.objects.get(name=name).pk for name in ("Oldest", "Newest"))
    assert rows_of(text_of(client.get(f"/desk/views/{oldest}/"))) == [
        first.reference,
        second.reference,
    ]
    assert rows_of(text_of(client.get(f"/desk/views/{newest}/"))) == [
        second.reference,
        first.reference,
    ]


def test_a_supervisor_shares_a_view_with_the_team_and_only_the_team_sees_it(
    supervisor, agent, other_agent, team, make_complaint
):
    make_complaint(severity="critical")
    client = signed_in(supervisor)
    form = text_of(client.get("/desk/views/new/?scope=team&severity=critical"))
    assert 'name="share_with"' in form  # a supervisor is offered the teams

    answer = save(client, name="Critical", team=team.pk, severity="critical")

    view = SavedView.objects.get()
    assert answer.status_code == 302
    assert view.team == team
    assert view.parameters == {"severity": "critical"}  # sharing is not a team filter
    teammate_page = text_of(signed_in(agent).get("/desk/"))
    assert menu_of(teammate_page) == {"Critical": "1"}
    assert "shared with your team" in teammate_page
    assert signed_in(agent).get(f"/desk/views/{view.pk}/").status_code == 200
    # Another team's member: not in the menu, and the view's address is a 404.
    outsider = signed_in(other_agent)
    assert menu_of(text_of(outsider.get("/desk/"))) == {}
    assert outsider.get(f"/desk/views/{view.pk}/").status_code == 404
    assert outsider.post(f"/desk/views/{view.pk}/delete/").status_code == 404
    # A teammate may open it, not delete it.
    refused = signed_in(agent).post(f"/desk/views/{view.pk}/delete/")
    assert refused.status_code == 403
    assert "Only the person who saved this view" in text_of(refused)
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_an_agent_may_not_share_a_view(agent, team):
    client = signed_in(agent)
    assert 'name="share_with"' not in text_of(client.get("/desk/views/new/?scope=team"))

    answer = save(client, name="Kept", team=team.pk)

    # A wrong choice on the form, shown on its field with the form again: not a bare 403.
    assert answer.status_code == 400
    page = text_of(answer)
    assert re.search(
        r'id="id_share_with_errors"><li>Only a supervisor of the Billing team may share', page
    )
    assert 'value="Kept"' in page
    assert not SavedView.objects.exists()


def test_the_form_offers_a_supervisor_only_the_teams_they_may_share_with(
    supervisor, team, other_team
):
    form = text_of(signed_in(supervisor).get("/desk/views/new/?scope=team"))

    assert f'<option value="{team.pk}">Billing</option>' in form
    assert f'value="{other_team.pk}"' not in form


def test_a_supervisor_may_not_share_with_a_team_they_are_not_on(supervisor, other_team):
    # A form from before they left the team, or one written by hand.
    answer = save(signed_in(supervisor), name="Kept", team=other_team.pk)

    assert answer.status_code == 400
    page = text_of(answer)
    assert re.search(
        r'id="id_share_with_errors"><li>Only a supervisor of the Delivery team may share', page
    )
    assert 'value="Kept"' in page
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"channel": "pigeon"}, "There is no channel called “pigeon”."),
        ({"team": "999"}, "There is no team with the id “999”."),
        ({"sort": "sideways"}, "The queue cannot be sorted by “sideways”."),
        ({"root_cause": "weather"}, "There is no root cause with the code “weather”."),
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"assignee": "<b>"}, "Choose Me, Unassigned or a person&#x27;s username."),
    ],
)
def test_wrong_filters_are_refused_with_a_message_and_nothing_is_saved(agent, filters, message):
    answer = save(signed_in(agent), **filters)

    assert answer.status_code == 400
    assert message in text_of(answer)
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Give the view a name."),
        ({"name": "n" * 81}, "at most 80 characters"),
        ({"scope": "everyone"}, "There is no queue called “everyone”."),
        ({"columns": ["deadline", "salary"]}, "The queue has no column “salary”."),
        ({"team": "abc"}, "There is no team with the id “abc”."),
        ({"share_with": "abc"}, "There is no team with the id “abc”."),
    ],
)
def test_a_wrong_name_queue_or_column_is_refused_with_a_message(agent, fields, message):
    answer = save(signed_in(agent), **fields)

    assert answer.status_code == 400
    assert message in text_of(answer)
    assert not SavedView.objects.exists()


def test_an_unknown_queue_on_the_form_falls_back_to_the_team_queue_and_says_so(agent):
    answer = signed_in(agent).get("/desk/views/new/?scope=bogus")

    page = text_of(answer)
    assert answer.status_code == 200
    assert "There is no queue called “bogus”: the view will be of the Team queue." in page
    assert "<p>Team queue: no filter, most urgent first</p>" in page
    assert re.search(r'<input type="hidden" name="scope" value="team"', page)


def test_an_unknown_queue_sent_with_the_form_is_refused_without_an_empty_label(agent):
    answer = save(signed_in(agent), scope="bogus")

    page = text_of(answer)
    assert answer.status_code == 400
    assert "There is no queue called “bogus”." in page
    assert "<p>: " not in page
    assert not SavedView.objects.exists()


def test_a_name_is_used_once_per_person_but_two_people_may_share_it(agent, teammate):
    assert save(signed_in(agent), name="Mine").status_code == 302

    again = save(signed_in(agent), name="  Mine ")

    assert again.status_code == 400
    assert "You already have a view called “Mine”" in text_of(again)
    assert save(signed_in(teammate), name="Mine").status_code == 302
    assert SavedView.objects.count() == 2


def test_one_person_keeps_a_bounded_number_of_views(agent, monkeypatch):
    monkeypatch.setattr(saved_views, "MAX_VIEWS_PER_OWNER", 2)
    client = signed_in(agent)
    save(client, name="One")
    save(client, name="Two")

    third = save(client, name="Three")

    assert third.status_code == 400
    assert "You have 2 saved views, the most one person may keep" in text_of(third)


def test_the_service_refuses_what_the_form_never_sends(agent):
    with pytest.raises(saved_views.ValidationFailed, match="not page"):
        saved_views.saved_view_create(
            owner=agent, name="x", scope="team", parameters={"page": "2"}, columns=[]
        )
    with pytest.raises(saved_views.ValidationFailed, match="at most 200"):
        saved_views.saved_view_create(
            owner=agent, name="x", scope="team", parameters={"q": "y" * 201}, columns=[]
        )
    assert not SavedView.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_saves_of_one_name_at_once_keep_one_view(agent):
    """Each save runs in its own connection; the owner's row lock puts them in turn."""
    results = []
    barrier = threading.Barrier(2)

    def save_once():
        try:
            barrier.wait()
            saved_views.saved_view_create(
                owner=agent, name="Race", scope="team", parameters={}, columns=[]
            )
            results.append("saved")
        except saved_views.ValidationFailed as error:
            results.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=save_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [
        "You already have a view called “Race”: choose another name.",
        "saved",
    ]
    assert SavedView.objects.filter(owner=agent).count() == 1


@pytest.mark.sqlite
def test_the_menu_counts_each_view_and_a_change_shows_once_forgotten(agent, make_complaint):
    phone = make_complaint(channel="phone")
    make_complaint(channel="phone")
    make_complaint(channel="email")
    client = signed_in(agent)
    save(client, name="Phone", channel="phone")
    save(client, name="Email", channel="email")
    save(client, name="Closed", state="resolved")
    save(client, name="Mine", scope="mine")

    assert menu_of(text_of(client.get("/desk/"))) == {
        "Closed": "0",
        "Email": "1",
        "Mine": "0",
        "Phone": "2",
    }
    Complaint.objects.filter(pk=phone.pk).update(assignee=agent)
    # Held for MENU_SECONDS; saving or deleting a view, or the time passing, forgets it.
    assert menu_of(text_of(client.get("/desk/")))["Mine"] == "0"
    view_counts.forget([agent.pk])
    assert menu_of(text_of(client.get("/desk/")))["Mine"] == "1"


def test_a_count_above_the_cap_says_more_than(agent, make_complaint, monkeypatch):
    monkeypatch.setattr(view_counts, "COUNT_CAP", 2)
    for _ in range(3):
        make_complaint()
    client = signed_in(agent)
    save(client, name="All")

    assert menu_of(text_of(client.get("/desk/"))) == {"All": "more than 2"}


def test_the_menu_costs_two_statements_when_not_cached_and_none_when_cached(
    agent, teammate, make_complaint, settings
):
    # As in production: the configuration held in memory, so that only the menu's own
    # statements make the difference.
    settings.REDRESS_CONFIGURATION_CACHE = True
    make_complaint(channel="phone")
    client = signed_in(agent)
    for name, channel in (("One", "phone"), ("Two", "email"), ("Three", "web")):
        save(client, name=name, channel=channel)
    client.get("/desk/team/")  # warm: session, permissions caches, the menu
    without_views = signed_in(teammate)
    without_views.get("/desk/team/")

    with CaptureQueriesContext(connection) as baseline:
        assert rows_of(text_of(without_views.get("/desk/team/")))
    with CaptureQueriesContext(connection) as cached:
        assert rows_of(text_of(client.get("/desk/team/")))
    view_counts.forget([agent.pk])
    with CaptureQueriesContext(connection) as afresh:
        client.get("/desk/team/")

    assert len(cached) == len(baseline), [q["sql"] for q in cached]
    # The views, then all three counts in one SELECT.
    assert len(afresh) == len(baseline) + 2, [q["sql"] for q in afresh]
    assert [q["sql"].count("SELECT COUNT(*)") for q in afresh.captured_queries].count(3) == 1


def test_a_saved_view_page_costs_what_a_queue_page_costs(agent, make_complaint):
    make_complaint(channel="phone")
    client = signed_in(agent)
    save(client, name="Phone", channel="phone", columns=["subject"])
    path = f"/desk/views/{SavedView.objects.get().pk}/"
    client.get(path)

    with CaptureQueriesContext(connection) as queries:
        assert rows_of(text_of(client.get(path)))

    # The view comes from the menu's cache: no row of its own.
    assert len(queries) == QUEUE_QUERIES, [q["sql"] for q in queries]


def test_the_owner_deletes_a_view_and_it_leaves_the_menu(agent):
    client = signed_in(agent)
    save(client, name="Gone soon")
    view = SavedView.objects.get()
    assert menu_of(text_of(client.get("/desk/"))) == {"Gone soon": "0"}

    answer = client.post(f"/desk/views/{view.pk}/delete/")

    assert answer.status_code == 302
    assert not SavedView.objects.exists()
    assert menu_of(text_of(client.get("/desk/"))) == {}
    assert client.get(f"/desk/views/{view.pk}/").status_code == 404
    assert client.get(f"/desk/views/{view.pk}/delete/").status_code == 404


def test_deleting_a_view_asks_first_on_a_page_of_its_own(agent):
    client = signed_in(agent)
    save(client, name="Gone soon")
    view = SavedView.objects.get()
    delete_path = f"/desk/views/{view.pk}/delete/"
    # The view's page links to the question; it deletes nothing by itself.
    assert f'href="{delete_path}"' in text_of(client.get(f"/desk/views/{view.pk}/"))

    question = client.get(delete_path)

    page = text_of(question)
    assert question.status_code == 200
    assert "Delete the view “<bdi>Gone soon</bdi>”?" in page
    assert f'<form method="post" action="{delete_path}"' in page
    assert f'href="/desk/views/{view.pk}/">No, keep it</a>' in page
    assert SavedView.objects.filter(pk=view.pk).exists()


@pytest.mark.parametrize(
    ("scope", "queue"),
    [("mine", "/desk/"), ("team", "/desk/team/"), ("unassigned", "/desk/unassigned/")],
)
def test_after_deleting_a_view_its_own_queue_opens_and_names_it(agent, scope, queue):
    client = signed_in(agent)
    save(client, name="Gone soon", scope=scope)
    view = SavedView.objects.get()

    answer = client.post(f"/desk/views/{view.pk}/delete/")

    assert answer.status_code == 302
    assert answer["Location"] == queue
    assert "The view “Gone soon” is deleted." in text_of(client.get(queue))


def test_a_teammate_is_not_asked_to_delete_a_view_they_may_not_delete(supervisor, agent, team):
    save(signed_in(supervisor), name="Critical", team=team.pk)
    view = SavedView.objects.get()

    answer = signed_in(agent).get(f"/desk/views/{view.pk}/delete/")

    assert answer.status_code == 403
    assert "Only the person who saved this view" in text_of(answer)


def test_saved_views_are_for_staff(customer_user, agent):
    client = signed_in(agent)
    save(client, name="Mine")
    view = SavedView.objects.get()

    customer = signed_in(customer_user)
    assert customer.get(f"/desk/views/{view.pk}/").status_code == 403
    assert save(customer, name="Theirs").status_code == 403
    assert SavedView.objects.count() == 1
