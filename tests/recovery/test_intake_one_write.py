"""A new complaint's row is written once: its first deadlines, urgency and its original
message's words go in with its INSERT, and no UPDATE of it follows in its transaction."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from escalation.services.snapshot import SLA_SNAPSHOT_FIELDS, complaints_refresh_sla
from recovery.models import Complaint, Message
from recovery.services import intake
from recovery.services.messages import message_add

LONG_STORY = " ".join(f"refund{n % 97} charged twice for order {n}" for n in range(250))


def submit(actor, **fields):
    complaint, created = intake.complaint_submit(
        actor=actor,
        intake=intake.ComplaintIntake(
            subject=fields.pop("subject", "Charged twice"),
            description=fields.pop("description", "My card was charged twice."),
            **fields,
        ),
    )
    assert created
    return complaint


def complaint_rows_written() -> tuple[int, int]:
    """(rows inserted, rows updated) in recovery_complaint by this transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'recovery_complaint'"
        )
        return cursor.fetchone() or (0, 0)


def words_of(complaint) -> tuple:
    """(the complaint's copy of its messages' words, those words as the messages hold them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.message_document::text, (SELECT redress_tsvector_agg(m.search_document "
            "ORDER BY m.id)::text FROM recovery_message m WHERE m.complaint_id = c.id) "
            "FROM recovery_complaint c WHERE c.id = %s",
            [complaint.pk],
        )
        return cursor.fetchone()


@pytest.mark.parametrize(
    "description", [LONG_STORY, "Charged twice.", ""], ids=["long", "short", "empty"]
)
def test_a_create_inserts_the_complaint_row_and_updates_it_never(customer_user, description):
    inserted, updated = complaint_rows_written()

    submit(customer_user, description=description, regulatory_profile="uk_fca_disp")

    assert complaint_rows_written() == (inserted + 1, updated)


def test_the_message_words_stay_those_of_the_messages_after_a_reply_an_edit_and_a_delete(
    customer_user,
):
    complaint = submit(customer_user, description=LONG_STORY)
    document, messages_words = words_of(complaint)
    assert "refund5" in document
    assert document == messages_words

    message_add(complaint=complaint, actor=customer_user, body="Refund the second charge.")
    assert words_of(complaint)[0] == words_of(complaint)[1]
    assert "second" in words_of(complaint)[0]

    original = Message.objects.filter(complaint=complaint).order_by("pk").first()
    Message.objects.filter(pk=original.pk).update(body="Charged three times.")
    assert words_of(complaint)[0] == words_of(complaint)[1]
    assert "refund5" not in words_of(complaint)[0]

    Message.objects.filter(pk=original.pk).delete()
    assert words_of(complaint)[0] == words_of(complaint)[1]
    assert "three" not in words_of(complaint)[0]


def test_a_first_message_whose_words_the_complaint_lacks_is_still_appended(customer_user):
    """A complaint written without the words (not through intake) gets them from the
    trigger, as before."""
    complaint = submit(customer_user)
    Message.objects.filter(complaint=complaint).delete()
    Complaint.objects.filter(pk=complaint.pk).update(subject="Still charged twice")

    Message.objects.create(complaint=complaint, body="Charged twice.", created_at=timezone.now())

    document, messages_words = words_of(complaint)
    assert document == messages_words
    assert "charg" in document


@pytest.mark.parametrize(
    ("profile", "days_ago"),
    [("", 0), ("uk_fca_disp", 0), ("uk_fca_disp", 2), ("uk_fca_disp", 60), ("", 60)],
)
def test_the_deadlines_written_with_the_row_are_those_the_clocks_make(
    customer_user, profile, days_ago
):
    """What the INSERT wrote is what a refresh from the clocks writes: deadlines, urgency,
    the most overdue deadline and its kind (an import received long ago is overdue)."""
    complaint = submit(
        customer_user,
        regulatory_profile=profile,
        received_at=timezone.now() - timedelta(days=days_ago, minutes=1),
    )
    assert complaint.clocks.exists()
    written = Complaint.objects.filter(pk=complaint.pk).values_list(*SLA_SNAPSHOT_FIELDS).get()
    assert written == tuple(getattr(complaint, name) for name in SLA_SNAPSHOT_FIELDS)

    refreshed = complaints_refresh_sla([complaint.pk], returning=True)[complaint.pk]

    assert refreshed == written
