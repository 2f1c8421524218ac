"""Every admin page opens, and every admin form that may save does save.

The saves are generic: for each registered model the add and change pages are fetched, the
POST a person would send is rebuilt from the form the page was rendered with
(``tests.admin_forms``: its fields and initial values, each inline formset with its
management form), every required field left empty gets a valid value for its type, and the
answer must be the redirect that follows a save, with the row added or changed. Admins that refuse adding or changing must refuse the
POST as well.

Persona: ``root``, a superuser: whatever the admin refuses them, it refuses everyone.
"""

import uuid
from datetime import date

import pytest
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import authenticate, user_logged_in
from django.test import RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalation.models import Escalation
from notifications.models import EmailDelivery, InboundEmail, Outbox, StaffEmail
from recovery.models import (
    ComplaintEvent,
    CorrectiveAction,
    IdempotencyKey,
    RecoveryGuideline,
    RootCauseAlert,
    RoutingRule,
    SsoIdentity,
    State,
    Survey,
    Touchpoint,
    UnpickedAlert,
)
from tests.admin_forms import GenericValues, edited_field, page_data, page_errors
from tests.factories import (
    CategoryFactory,
    RecoveryActionFactory,
    UserFactory,
    api_token_for,
    complaint_in_state,
)

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)

# The admins that show records only the services write (the timeline, the outbox, clocks,
# deliveries...): never added or changed by hand. A complaint is changed through the
# services too: its admin form corrects descriptive fields through one
# (``complaint_correct_details``), and its actions run the others.
NO_ADD = {
    # Sign-in records: written by django-axes, shown for the audit, deleted to lift a lockout.
    "axes.AccessAttempt",
    "axes.AccessFailureLog",
    "axes.AccessLog",
    # API tokens: issued only to their owner's password, revocable (deleted) here.
    "knox.AuthToken",
    # Second factors: enrolled only by their owner, deleted here to reset a lost one.
    "otp_totp.TOTPDevice",
    # Single sign-on links: made by a provider's sign-in, deleted here to unlink.
    "recovery.SsoIdentity",
    "escalation.Clock",
    "escalation.Escalation",
    "notifications.EmailDelivery",
    "notifications.InboundEmail",
    "notifications.Outbox",
    "notifications.StaffEmail",
    "recovery.Complaint",
    "recovery.ComplaintEvent",
    "recovery.IdempotencyKey",
    "recovery.RecoveryAction",
    "recovery.RootCauseAlert",
    "recovery.Survey",
    "recovery.UnpickedAlert",
}
NO_CHANGE = NO_ADD - {"recovery.Complaint"}
# Edited by hand: the data the services read (teams, categories, policies, calendars,
# templates...), people, and corrective actions (their status moves through a service).
REFERENCE_DATA = {
    "auth.Group",
    "auth.User",
    "escalation.BusinessCalendar",
    "escalation.EscalationLadder",
    "escalation.SlaPolicy",
    "notifications.MessageTemplate",
    "recovery.ApprovalLimit",
    "recovery.Category",
    "recovery.CorrectiveAction",
    "recovery.Customer",
    "recovery.JourneyStage",
    "recovery.RecoveryGuideline",
    "recovery.RootCause",
    "recovery.RoutingRule",
    "recovery.Team",
    "recovery.Touchpoint",
}
# Saved through a service: the form's save must leave the service's timeline event.
SERVICE_SAVED = {"recovery.Complaint"}

PASSWORD = "correct-horse-battery-staple-91"
# Valid data that generic values cannot give, by model and page.
EXPLICIT = {
    # The two passwords must be equal and pass the password validators.
    ("auth.User", "add"): {"password1": PASSWORD, "password2": PASSWORD},
    # The migrations install a template of every kind in English, so the generic kind and
    # language would repeat one (a template is unique per kind, language and profile).
    ("notifications.MessageTemplate", "add"): {"language": "cy"},
    # A calendar must be open at some time of the week, and the form starts with no hours.
    ("escalation.BusinessCalendar", "add"): {"weekly_hours": '{"0": [["09:00", "17:00"]]}'},
}


@pytest.fixture
def root(client, customer_user, agent, root_causes):
    """A superuser's client, and a row of every registered model.

    The migrations provide stages, limits, calendars, ladders, policies and templates; the
    acknowledged complaint adds its customer, timeline, outbox and clocks. The records only
    services write are made by their services where a factory has one, else directly here:
    the admin only shows them.
    """
    complaint = complaint_in_state(State.ACKNOWLEDGED, by=customer_user, agent=agent)
    CategoryFactory()
    Touchpoint.objects.create(name="Website", slug="website")
    # Not the generic add's values (first cause, any severity, no currency): those must be free.
    RecoveryGuideline.objects.create(
        root_cause=root_causes["billing"], severity="critical", type="apology"
    )
    CorrectiveAction.objects.create(title="Stop gateway retries", owner=agent).root_causes.add(
        root_causes["billing.duplicate-charge"]
    )
    api_token_for(agent)
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    SsoIdentity.objects.create(user=agent, issuer="https://id.example.com", subject="agent-1")
    # One failed and one successful sign-in, recorded by axes as the login pages would.
    sign_in = RequestFactory().post("/admin/login/", REMOTE_ADDR="192.0.2.5")
    authenticate(sign_in, username=agent.username, password="wrong")
    user_logged_in.send(sender=type(agent), request=sign_in, user=agent)
    IdempotencyKey.objects.create(key="k1", owner=agent, request_hash="0" * 64, complaint=complaint)
    RecoveryActionFactory(complaint=complaint, actor=agent)
    Survey.objects.create(complaint=complaint)
    RootCauseAlert.objects.create(
        root_cause=root_causes["billing"], week_start=date(2026, 3, 2), count=9, baseline=2.5
    )
    RoutingRule.objects.create(name="Refunds", team=complaint.team, keywords=["refund"])
    UnpickedAlert.objects.create(complaint=complaint, team=complaint.team, claim=uuid.uuid4())
    Escalation.objects.create(complaint=complaint, level=1, previous_level=0, reason="Late.")
    EmailDelivery.objects.create(
        outbox=Outbox.objects.first(),
        complaint_id=complaint.pk,
        recipient="customer@example.com",
        kind="acknowledgement",
        subject="We have your complaint",
        body_text="We have it.",
        rfc_message_id="<1@redress.invalid>",
    )
    StaffEmail.objects.create(
        user=agent,
        recipient="agent@example.com",
        subject="Deadline at risk",
        body_text="Soon due.",
        rfc_message_id="<2@redress.invalid>",
    )
    InboundEmail.objects.create(fingerprint="f1", raw=b"Subject: hi", status="ignored")
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


def label(model) -> str:
    return model._meta.label


def admin_url(model, page: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{page}"


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_registered_admin_page_opens_for_a_superuser(root):
    failures = []
    for model in REGISTERED:
        changelist = admin_url(model)
        answer = root.get(changelist)
        if answer.status_code != 200:
            failures.append((changelist, answer.status_code))
        row = model._default_manager.first()
        if row is not None:
            change = answer.context["cl"].url_for_result(row)
            answer = root.get(change)
            if answer.status_code != 200:
                failures.append((change, answer.status_code))

    assert len(REGISTERED) >= 20
    assert failures == []


def test_every_registered_admin_has_a_decision_about_writes():
    # A new model admin fails here until someone decides: reference data edited by hand,
    # records only the services write (read-only), or saved through a service.
    registered = {label(model) for model in REGISTERED}
    decided = [REFERENCE_DATA, NO_CHANGE, SERVICE_SAVED]

    assert sorted(registered - set().union(*decided)) == []
    assert sorted(set().union(*decided) - registered) == []
    assert sum(len(group) for group in decided) == len(set().union(*decided))


@pytest.mark.django_db
def test_no_complaint_record_is_deleted_in_the_admin(rf):
    request = rf.get("/admin/")
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)
    deletable = {
        label(m) for m, a in admin.site._registry.items() if a.has_delete_permission(request)
    }

    # An idempotency key only remembers a request for replays; dropping one changes no
    # complaint. Deleting an API token revokes it, deleting sign-in records lifts a lockout,
    # deleting a TOTP device or a single sign-on identity unlinks it from the account (none
    # is a complaint record). Everything else a service wrote stays.
    assert deletable & (NO_CHANGE | SERVICE_SAVED) == {
        "recovery.IdempotencyKey",
        "knox.AuthToken",
        "axes.AccessAttempt",
        "axes.AccessLog",
        "axes.AccessFailureLog",
        "otp_totp.TOTPDevice",
        "recovery.SsoIdentity",
    }


@pytest.mark.django_db
def test_the_admins_that_refuse_adding_and_changing_are_the_service_written_records(rf, root):
    request = rf.get("/admin/")
    request.user = UserFactory(username="root")
    refuses_add = {
        label(m) for m, a in admin.site._registry.items() if not a.has_add_permission(request)
    }
    refuses_change = {
        label(m) for m, a in admin.site._registry.items() if not a.has_change_permission(request)
    }

    assert (refuses_add, refuses_change) == (NO_ADD, NO_CHANGE)


@pytest.mark.django_db
@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_the_add_form_saves_a_new_row(root, model):
    add = admin_url(model, "add/")
    before = set(model._default_manager.values_list("pk", flat=True))

    page = root.get(add)

    if label(model) in NO_ADD:
        assert page.status_code == 403
        assert root.post(add, {}).status_code == 403
        assert set(model._default_manager.values_list("pk", flat=True)) == before
        return
    assert page.status_code == 200
    data = page_data(page, fill=GenericValues(), add_inline_rows=True)
    explicit = EXPLICIT.get((label(model), "add"), {})
    data.update({name: value() if callable(value) else value for name, value in explicit.items()})

    answer = root.post(add, data)

    assert answer.status_code == 302, page_errors(answer)
    added = model._default_manager.exclude(pk__in=before)
    assert added.count() == 1
    assert LogEntry.objects.filter(object_id=str(added.get().pk), action_flag=ADDITION).exists()
    for inline in page.context["inline_admin_formsets"]:
        if inline.has_add_permission:
            # The row the inline was given was saved, and belongs to the new parent.
            rows = inline.formset.model._default_manager.filter(
                **{inline.formset.fk.name: added.get()}
            )
            assert rows.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_the_change_form_saves_an_existing_row(root, model):
    row = model._default_manager.first()
    assert row is not None, f"give {label(model)} a row in the root fixture"
    change = root.get(admin_url(model)).context["cl"].url_for_result(row)

    page = root.get(change)

    assert page.status_code == 200
    if label(model) in NO_CHANGE:
        # Shown read-only, and a POST is refused before anything is read from it.
        assert page.context["has_change_permission"] is False
        assert root.post(change, {}).status_code == 403
        return
    form = page.context["adminform"].form
    data = page_data(page, fill=None, add_inline_rows=False)
    edited = edited_field(form)
    if edited is not None:
        data[edited] = f"{data[edited]}-edited" if data[edited] else "edited"

    answer = root.post(change, data)

    assert answer.status_code == 302, page_errors(answer)
    # The primary key's own value, whatever the model names it.
    saved = model._default_manager.get(pk=model._meta.pk.value_from_object(row))
    assert LogEntry.objects.filter(object_id=str(row.pk), action_flag=CHANGE).exists()
    if edited is not None:
        assert getattr(saved, edited) == data[edited]
    if label(model) in SERVICE_SAVED:
        # Written by the service: its timeline event, and the outbox row telling of it.
        event = ComplaintEvent.objects.filter(complaint=saved).latest("id")
        assert event.parameters["changes"][edited]["after"] == data[edited]
        assert Outbox.objects.filter(payload__timeline_event_id=event.pk).exists()


@pytest.mark.django_db
def test_the_generic_change_alters_a_field_of_every_changeable_model(root):
    # Guards the change test above: it must prove that a change saved, not only a redirect.
    unaltered = set()
    for model in REGISTERED:
        if label(model) in NO_CHANGE:
            continue
        row = model._default_manager.first()
        change = root.get(admin_url(model)).context["cl"].url_for_result(row)
        if edited_field(root.get(change).context["adminform"].form) is None:
            unaltered.add(label(model))

    assert unaltered == set()
