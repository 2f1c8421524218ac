"""The one-time tokens of desk forms are forgotten once older than their retention.

A ``FormSubmission`` row answers a form posted again from the same rendering of the page;
after ``submissions.KEPT_FOR`` (thirty days) no back-and-resend is left to answer, and the
beat deletes it.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from desk import submissions
from desk.models import FormSubmission
from desk.tasks import expire_form_submissions

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def sent(complaint, *, ago: timedelta) -> FormSubmission:
    return FormSubmission.objects.create(
        key=f"reply:{ago.total_seconds():.0f}",
        fingerprint="0" * 64,
        complaint=complaint,
        created_at=NOW - ago,
    )


def kept() -> list[str]:
    return sorted(FormSubmission.objects.values_list("key", flat=True))


def test_the_beat_task_deletes_the_rows_past_their_retention_and_keeps_the_others(
    make_complaint, time_machine
):
    complaint = make_complaint()
    old = sent(complaint, ago=submissions.KEPT_FOR + timedelta(seconds=1))
    older = sent(complaint, ago=submissions.KEPT_FOR + timedelta(days=300))
    last_moment = sent(complaint, ago=submissions.KEPT_FOR)
    recent = sent(complaint, ago=timedelta(hours=1))
    time_machine.move_to(NOW, tick=False)

    answer = expire_form_submissions.apply().get()

    assert answer == {"deleted": 2}
    assert kept() == sorted([last_moment.key, recent.key])
    assert not FormSubmission.objects.filter(pk__in=[old.pk, older.pk]).exists()


def test_the_retention_is_thirty_days():
    assert timedelta(days=30) == submissions.KEPT_FOR


def test_a_backlog_larger_than_a_batch_is_deleted_in_one_run(make_complaint, monkeypatch):
    monkeypatch.setattr(submissions, "EXPIRE_BATCH", 2)
    complaint = make_complaint()
    for days in range(5):
        sent(complaint, ago=submissions.KEPT_FOR + timedelta(days=days + 1))
    recent = sent(complaint, ago=timedelta(days=1))

    assert submissions.expire(now=NOW) == 5
    assert kept() == [recent.key]


def test_the_expiry_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["expire-form-submissions"]

    assert entry["task"] == "desk.expire_form_submissions"
    # Each tick expires before the next, so a stalled worker does not run a queue of them.
    assert entry["options"]["expires"] <= entry["schedule"]
