"""``@username`` in an internal note tells that colleague (``recovery.mentions``), once, and
only if they may see the complaint; the desk shows the mention and who could not be told.

Personas: ``agent`` writes the notes; ``supervisor`` leads the Billing team (not told of
routine notes as a team member, so only a mention reaches them); ``other_agent`` works the
Delivery team and may not see a Billing complaint; ``manager`` sees every complaint.
"""

import pytest

from notifications import delivery, staff_email
from notifications.models import Notification, NotificationPreference, Outbox
from recovery import mentions
from recovery.models import ComplaintEvent, EventType
from recovery.services import messages as message_services
from tests.desk.conftest import signed_in

pytestmark = pytest.mark.django_db


def note(complaint, actor, body):
    message = message_services.message_add(
        complaint=complaint, actor=actor, body=body, internal=True
    )
    event = ComplaintEvent.objects.get(type=EventType.NOTE_ADDED, parameters__message_id=message.pk)
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    delivery.deliver(row.pk)
    return event, set(
        Notification.objects.filter(outbox=row).values_list("user__username", flat=True)
    )


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("ask @sam.lee.", ["sam.lee"]),
        ("@Sam and @sam again, @ann", ["Sam", "ann"]),
        ("mail ann@example.com, not a mention", []),
        ("(@bo) @x+y-z_1", ["bo", "x+y-z_1"]),
    ],
)
def test_names_are_read_as_people_type_them(body, names):
    assert mentions.mentioned_names(body) == names


def test_a_mentioned_supervisor_is_told_once_and_the_author_never(
    make_complaint, agent, supervisor
):
    complaint = make_complaint()
    _, told_before = note(complaint, agent, "Routine note.")
    assert "supervisor" not in told_before

    event, told = note(complaint, agent, "@supervisor please look, @SUPERVISOR. Thanks @agent")

    assert "supervisor" in told
    assert "agent" not in told
    assert (
        Notification.objects.filter(
            user=supervisor, outbox__payload__timeline_event_id=event.pk
        ).count()
        == 1
    )
    assert event.parameters["mentioned"] == ["supervisor"]
    assert "not_notified" not in event.parameters


def test_someone_who_may_not_see_the_complaint_is_not_told_and_the_note_says_so(
    make_complaint, agent, other_agent, manager
):
    complaint = make_complaint()

    event, told = note(complaint, agent, "@other_agent @manager @nobody what do you think?")

    assert "other_agent" not in told
    assert "manager" in told
    assert event.parameters["not_notified"] == [
        {"username": "other_agent", "why": "no_access"},
        {"username": "nobody", "why": "unknown"},
    ]

    html = signed_in(agent).get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert '<mark class="mention">@manager</mark>' in html
    assert "@other_agent was not told: they may not see this complaint." in html
    assert "@nobody was not told: there is no active member of staff of that name." in html


def test_a_deactivated_colleague_is_not_told(make_complaint, agent, supervisor):
    supervisor.is_active = False
    supervisor.save()

    event, told = note(make_complaint(), agent, "@supervisor?")

    assert "supervisor" not in told
    assert event.parameters["not_notified"] == [{"username": "supervisor", "why": "unknown"}]


def test_a_reply_to_the_customer_mentions_nobody(make_complaint, agent, supervisor):
    complaint = make_complaint()
    message_services.message_add(complaint=complaint, actor=agent, body="@supervisor hi")
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.MESSAGE_ADDED)
    assert "mentioned" not in event.parameters


def test_the_colleague_named_is_told_who_named_them_where_and_what_the_note_says(
    make_complaint, agent, supervisor, manager, mailoutbox, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agent.first_name, agent.last_name = "Alex", "Agent"
    agent.save()
    NotificationPreference.objects.create(user=supervisor, via_email=True, time_zone="UTC")
    complaint = make_complaint(subject="Charged twice for one order")
    complaint.assignee = manager
    complaint.save(update_fields=["assignee"])
    body = "@supervisor could you check whether the refund went out?  " + "More. " * 40

    event, _ = note(complaint, agent, body)

    told = Notification.objects.get(user=supervisor, outbox__payload__timeline_event_id=event.pk)
    excerpt = " ".join(body.split())[:119].rstrip() + "…"
    expected = (
        f"Alex Agent mentioned you in {complaint.reference} “Charged twice for one order”: "
        f"“{excerpt}”"
    )
    assert told.summary == expected
    # The assignee, not named, hears of the note as before.
    assigned = Notification.objects.get(user=manager, outbox=told.outbox)
    assert assigned.summary == (
        f"{complaint.reference} “Charged twice for one order”: Alex Agent added an internal note"
    )
    # The inbox line and the email's link open the complaint.
    client = signed_in(supervisor)
    inbox_page = client.get("/desk/notifications/").content.decode()
    assert f"/desk/notifications/{told.pk}/" in inbox_page
    assert "Alex Agent mentioned you in" in inbox_page
    opened = client.get(f"/desk/notifications/{told.pk}/")
    assert opened.status_code == 302
    assert opened.url == f"/desk/complaints/{complaint.reference}/"

    staff_email.compose_due(user_ids=[supervisor.pk])
    staff_email.send(staff_email.queued(limit=1)[0])
    (email,) = mailoutbox
    assert email.subject == f"Redress: {expected}"
    assert expected in email.body
    assert f"/desk/notifications/{told.pk}/" in email.body
