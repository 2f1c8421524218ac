"""Corrective actions on the desk: open, edit, link complaints and move on without the admin.

Personas: ``manager`` (a complaints manager: opens and changes actions), ``supervisor`` (sees
them, moves on only the ones they own), ``agent`` (none of it), ``customer_user`` and the
public form's service account (never owners).
"""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from desk.accounts import portal_account
from recovery.models import ComplaintEvent, CorrectiveAction, EventType
from tests.desk.conftest import signed_in
from tests.insights.insights_fixtures import at, cause, complaint

pytestmark = pytest.mark.django_db

NEW = "/desk/corrective-actions/new/"
LIST = "/desk/corrective-actions/"
# A due date a new action may have: in the future.
DUE = timezone.localdate() + timedelta(days=90)


@pytest.fixture
def causes(db):
    billing = cause("billing", "Billing")
    return {
        "billing": billing,
        "duplicate": cause("billing.duplicate-charge", "Duplicate charge", parent=billing),
        "late": cause("delivery.late", "Late delivery"),
    }


def form(**fields) -> dict:
    return {
        "title": "Stop double charging",
        "root_causes": ["billing.duplicate-charge"],
        "owner": "supervisor",
        "kind": "corrective",
        "due_on": DUE.isoformat(),
        "description": "Deduplicate card captures.",
        "complaints": "",
        **fields,
    }


def errors_of(answer) -> str:
    return answer.content.decode()


def test_a_manager_opens_an_action_with_its_complaints(causes, manager, supervisor):
    first = complaint(received=at(2026, 3, 2), primary=causes["duplicate"])
    second = complaint(received=at(2026, 3, 3), primary=causes["duplicate"])

    answer = signed_in(manager).post(
        NEW, form(complaints=f"{first.reference}, {second.reference.lower()}")
    )

    assert answer.status_code == 302, errors_of(answer)
    assert answer["Location"] == LIST
    action = CorrectiveAction.objects.get()
    assert (action.title, action.owner, action.created_by, action.status) == (
        "Stop double charging",
        supervisor,
        manager,
        "open",
    )
    assert [c.code for c in action.root_causes.all()] == ["billing.duplicate-charge"]
    assert action.due_on == DUE
    # Each linked complaint's timeline says so (the service's event).
    linked = ComplaintEvent.objects.filter(type=EventType.CORRECTIVE_ACTION_LINKED)
    assert sorted(e.complaint.reference for e in linked) == sorted(
        [first.reference, second.reference]
    )
    assert {e.actor for e in linked} == {manager}
    assert {e.parameters["corrective_action_id"] for e in linked} == {action.pk}
    page = signed_in(manager).get(LIST).content.decode()
    assert "Stop double charging" in page
    # Causes by their path of names, never their codes.
    assert "Billing &gt; Duplicate charge" in page
    assert "billing.duplicate-charge" not in page


def test_the_owner_list_is_staff_who_see_actions(causes, manager, supervisor, agent, customer_user):
    portal_account()
    page = signed_in(manager).get(NEW).content.decode()
    owners = page[page.index('name="owner"') : page.index("</select>", page.index('name="owner"'))]
    assert 'value="supervisor"' in owners
    # An agent cannot see corrective actions (a 403 on the list), so cannot own one.
    assert 'value="agent"' not in owners
    assert 'value="manager"' in owners
    assert 'value="customer"' not in owners
    assert 'value="web-form"' not in owners


@pytest.mark.parametrize("owner", ["customer", "web-form", "nobody", "agent"])
def test_a_customer_service_account_or_agent_owner_is_refused(
    owner, causes, manager, customer_user, agent
):
    portal_account()

    answer = signed_in(manager).post(NEW, form(owner=owner))

    assert answer.status_code == 400
    assert (
        "Choose the owner among the active staff who may see corrective actions (supervisors, "
        "complaints managers and the head of CX): agents, customers and service accounts never "
        "own one." in errors_of(answer)
    )
    assert not CorrectiveAction.objects.exists()


def test_the_service_refuses_a_customer_owner_too(causes, manager, customer_user):
    from common.errors import ValidationFailed
    from recovery.services import prevention

    with pytest.raises(ValidationFailed) as refused:
        prevention.corrective_action_open(
            actor=manager, title="T", root_causes=["billing"], owner="customer"
        )
    assert refused.value.details["owner"] == [
        "'customer' cannot own a corrective action: choose an active staff member "
        "(customers and service accounts never own one)."
    ]


def test_the_service_and_the_api_refuse_an_agent_owner(causes, manager, agent):
    from common.errors import ValidationFailed
    from recovery.services import prevention
    from tests.conftest import api_client

    message = (
        "'agent' cannot see corrective actions, so cannot own one: choose a supervisor, a "
        "complaints manager or the head of CX."
    )
    with pytest.raises(ValidationFailed) as refused:
        prevention.corrective_action_open(
            actor=manager, title="T", root_causes=["billing"], owner="agent"
        )
    assert refused.value.details["owner"] == [message]
    answer = api_client(manager).post(
        "/api/corrective-actions/",
        {"title": "T", "root_causes": ["billing"], "owner": "agent"},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["details"]["owner"] == [message]
    assert not CorrectiveAction.objects.exists()


def test_a_new_action_cannot_be_due_in_the_past(causes, manager, supervisor):
    from tests.conftest import api_client

    yesterday = timezone.localdate() - timedelta(days=1)
    answer = signed_in(manager).post(NEW, form(due_on=yesterday.isoformat()))
    assert answer.status_code == 400
    message = (
        f"Due on {yesterday.day} {yesterday:%b %Y} is in the past: give today or a later date."
    )
    assert message in errors_of(answer)
    answer = api_client(manager).post(
        "/api/corrective-actions/",
        {
            "title": "T",
            "root_causes": ["billing"],
            "owner": "supervisor",
            "due_on": yesterday.isoformat(),
        },
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["details"]["due_on"] == [message]
    assert not CorrectiveAction.objects.exists()
    # Today is still possible.
    today = timezone.localdate().isoformat()
    assert signed_in(manager).post(NEW, form(due_on=today)).status_code == 302


def test_editing_keeps_a_past_due_date_but_refuses_a_new_one(causes, manager, supervisor):
    past = timezone.localdate() - timedelta(days=10)
    action = CorrectiveAction.objects.create(title="Late", owner=supervisor, due_on=past)
    url = f"/desk/corrective-actions/{action.pk}/edit/"

    kept = signed_in(manager).post(url, form(title="Later", due_on=past.isoformat()))
    assert kept.status_code == 302, errors_of(kept)
    action.refresh_from_db()
    assert (action.title, action.due_on) == ("Later", past)

    earlier = past - timedelta(days=1)
    refused = signed_in(manager).post(url, form(due_on=earlier.isoformat()))
    assert refused.status_code == 400
    assert "is in the past: give today or a later date." in errors_of(refused)
    action.refresh_from_db()
    assert action.due_on == past


def test_the_list_marks_overdue_actions_in_words(causes, manager, supervisor):
    today = timezone.localdate()
    CorrectiveAction.objects.create(title="Late one", owner=supervisor, due_on=today - timedelta(3))
    CorrectiveAction.objects.create(
        title="Just late", owner=supervisor, due_on=today - timedelta(1)
    )
    CorrectiveAction.objects.create(title="Due today", owner=supervisor, due_on=today)
    CorrectiveAction.objects.create(
        title="Done late",
        owner=supervisor,
        due_on=today - timedelta(5),
        status="done",
        done_at=timezone.now(),
    )
    page = signed_in(manager).get(LIST).content.decode()

    def item(title):
        start = page.index(f"<h2>{title}</h2>")
        return page[start : page.index("</li>", start)]

    assert "Overdue by 3 days" in item("Late one")
    assert "Overdue by 1 day<" in item("Just late")
    assert "Overdue" not in item("Due today")
    assert "Overdue" not in item("Done late")


def test_unknown_complaints_are_named_on_the_form(causes, manager, supervisor):
    answer = signed_in(manager).post(NEW, form(complaints="RDR-2026-999999"))
    assert answer.status_code == 400
    assert "Unknown complaints: RDR-2026-999999." in errors_of(answer)
    assert not CorrectiveAction.objects.exists()


def test_missing_title_and_causes_are_400_with_the_fields_named(causes, manager):
    answer = signed_in(manager).post(NEW, form(title="", root_causes=[]))
    assert answer.status_code == 400
    page = errors_of(answer)
    assert "Title: This field is required." in page
    assert "Root causes it addresses: This field is required." in page


def test_a_cause_link_prefills_the_form(causes, manager):
    page = signed_in(manager).get(f"{NEW}?root_cause=billing.duplicate-charge").content.decode()
    assert (
        '<input type="checkbox" name="root_causes" value="billing.duplicate-charge" '
        'id="id_root_causes_1_2" checked data-path="Billing &gt; Duplicate charge">'
    ) in page
    assert "Reduce “Duplicate charge”" in page
    # The owner proposed is the manager opening it.
    assert '<option value="manager" selected>' in page


def test_root_causes_are_ticked_not_ctrl_clicked_and_submit_without_javascript(
    causes, manager, supervisor
):
    client = signed_in(manager)
    page = client.get(NEW).content.decode()
    # The boxes the type-ahead picker (root-cause-picker.js) writes into; no multi-select.
    assert "<select multiple" not in page and "select[multiple]" not in page
    assert "data-root-cause-picker" in page
    assert "redress/js/root-cause-picker.js" in page
    for code in ("billing", "billing.duplicate-charge", "delivery.late"):
        assert f'name="root_causes" value="{code}"' in page

    answer = client.post(NEW, form(root_causes=["billing.duplicate-charge", "delivery.late"]))

    assert answer.status_code == 302, errors_of(answer)
    action = CorrectiveAction.objects.get()
    assert sorted(c.code for c in action.root_causes.all()) == [
        "billing.duplicate-charge",
        "delivery.late",
    ]
    # Editing it shows both ticked, and the groups holding them open.
    edit = client.get(f"/desk/corrective-actions/{action.pk}/edit/").content.decode()
    assert edit.count(" checked data-path=") == 2
    assert edit.count('<details class="root-cause-group" open>') == 2


def test_an_unknown_root_cause_is_a_400_naming_it(causes, manager, supervisor):
    answer = signed_in(manager).post(NEW, form(root_causes=["billing.nope"]))
    assert answer.status_code == 400
    assert "Choose root causes from the list: billing.nope is unknown or retired." in (
        errors_of(answer)
    )
    assert not CorrectiveAction.objects.exists()


def test_a_manager_edits_and_links_more(causes, manager, supervisor):
    action = CorrectiveAction.objects.create(title="Old", owner=supervisor)
    action.root_causes.set([causes["late"]])
    third = complaint(received=at(2026, 3, 4))

    answer = signed_in(manager).post(
        f"/desk/corrective-actions/{action.pk}/edit/",
        form(
            title="New title", owner="manager", root_causes=["billing"], complaints=third.reference
        ),
    )

    assert answer.status_code == 302, errors_of(answer)
    action.refresh_from_db()
    assert (action.title, action.owner, action.description) == (
        "New title",
        manager,
        "Deduplicate card captures.",
    )
    assert [c.code for c in action.root_causes.all()] == ["billing"]
    assert list(action.complaints.all()) == [third]
    assert ComplaintEvent.objects.filter(
        complaint=third, type=EventType.CORRECTIVE_ACTION_LINKED, actor=manager
    ).exists()
    # The change is in the action's history (the admin's audit trail).
    history = LogEntry.objects.filter(object_id=str(action.pk)).order_by("pk")
    assert {entry.user for entry in history} == {manager}
    assert [entry.get_change_message() for entry in history] == [
        "Changed title, description, owner, due_on and root_causes.",
        f"Linked complaints: {third.reference}.",
    ]


def test_closing_done_then_verified(causes, manager, supervisor):
    action = CorrectiveAction.objects.create(title="Fix", owner=supervisor)
    action.root_causes.set([causes["late"]])
    status_url = f"/desk/corrective-actions/{action.pk}/status/"
    # The owner (a supervisor) moves their own action on.
    owner = signed_in(supervisor)

    assert owner.post(status_url, {"status": "done"}).status_code == 302
    action.refresh_from_db()
    assert action.status == "done" and action.done_at is not None
    # Done: the effectiveness page is linked from the list.
    page = owner.get(LIST).content.decode()
    assert f'href="/insights/corrective-actions/{action.pk}/"' in page

    # The verdict needs a note: a 400 saying so, nothing changed.
    refused = owner.post(status_url, {"status": "verified", "note": ""})
    assert refused.status_code == 400
    assert "Say what the effectiveness check showed." in refused.content.decode()
    action.refresh_from_db()
    assert action.status == "done"

    assert owner.post(status_url, {"status": "verified", "note": "Down 60 %."}).status_code == 302
    action.refresh_from_db()
    assert (action.status, action.verification_note) == ("verified", "Down 60 %.")
    # Verified is final: moving it again is a 409 that names what is allowed.
    again = owner.post(status_url, {"status": "in_progress"})
    assert again.status_code == 409
    assert "cannot become in_progress" in again.content.decode()


def test_an_unknown_status_is_a_400(causes, manager, supervisor):
    action = CorrectiveAction.objects.create(title="Fix", owner=supervisor)
    answer = signed_in(manager).post(
        f"/desk/corrective-actions/{action.pk}/status/", {"status": "sideways"}
    )
    assert answer.status_code == 400
    assert "choose a status it can move to" in answer.content.decode()
    assert signed_in(manager).get(f"{LIST}?status=sideways").status_code == 400


def test_who_may_do_what(causes, manager, supervisor, agent, customer_user):
    action = CorrectiveAction.objects.create(title="Someone else's", owner=manager)
    action.root_causes.set([causes["late"]])
    edit = f"/desk/corrective-actions/{action.pk}/edit/"
    status_url = f"/desk/corrective-actions/{action.pk}/status/"

    # A supervisor sees the list but neither opens nor changes actions, nor moves on one
    # they do not own.
    boss = signed_in(supervisor)
    assert boss.get(LIST).status_code == 200
    assert "Start a corrective action" not in boss.get(LIST).content.decode()
    assert boss.get(NEW).status_code == 403
    assert boss.post(NEW, form()).status_code == 403
    assert boss.get(edit).status_code == 403
    assert boss.post(status_url, {"status": "done"}).status_code == 403
    # Agents and customers: none of it.
    for user in (agent, customer_user):
        client = signed_in(user)
        for url in (LIST, NEW, edit):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(status_url, {"status": "done"}).status_code == 403
    action.refresh_from_db()
    assert action.status == "open"
    assert CorrectiveAction.objects.count() == 1


def test_the_pareto_and_its_rising_causes_link_to_a_new_action(causes, manager, supervisor):
    from insights.selectors import week_start
    from recovery.models import RootCauseAlert

    complaint(received=at(2026, 3, 2), primary=causes["duplicate"], resolved_at=at(2026, 3, 5))
    RootCauseAlert.objects.create(
        root_cause=causes["late"], week_start=week_start(at(2026, 3, 2).date()), count=9, baseline=2
    )
    link = '<a href="/desk/corrective-actions/new/?root_cause={code}">'
    page = signed_in(manager).get("/insights/?start=2026-03-01&end=2026-03-31").content.decode()
    assert link.format(code="billing.duplicate-charge") in page
    assert link.format(code="delivery.late") in page
    assert (
        "Start a corrective action for this cause"
        '<span class="visually-hidden">: Billing &gt; Duplicate charge</span>' in page
    )
    # A supervisor may not open one: no such link.
    page = signed_in(supervisor).get("/insights/?start=2026-03-01&end=2026-03-31").content.decode()
    assert "/desk/corrective-actions/new/" not in page


def test_the_trends_page_links_each_cause_it_draws_to_a_new_action(causes, manager, supervisor):
    complaint(received=at(2026, 3, 2), primary=causes["duplicate"], resolved_at=at(2026, 3, 5))
    complaint(received=at(2026, 3, 9), primary=causes["late"], resolved_at=at(2026, 3, 10))
    url = "/insights/trends/?start=2026-03-01&end=2026-03-31"

    page = signed_in(manager).get(url).content.decode()

    link = '<a href="/desk/corrective-actions/new/?root_cause={code}">'
    assert link.format(code="billing.duplicate-charge") in page
    assert link.format(code="delivery.late") in page
    # Named by the cause's name; its code is only in the link's address.
    assert '<span class="cause-name">Billing &gt; Duplicate charge</span>' in page
    assert '<span class="cause-name">Late delivery</span>' in page
    page = signed_in(supervisor).get(url).content.decode()
    assert "/desk/corrective-actions/new/" not in page
