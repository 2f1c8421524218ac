"""The ``sending`` claim of a customer email (notifications.emailing), on the database.

The killed-worker case against a real SMTP server is in test_email_worker_killed.py.
"""

from datetime import timedelta
from email.utils import make_msgid
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.utils import timezone

from notifications import emailing, tasks
from notifications.models import EmailDelivery, EmailStatus, MessageTemplateKind, Outbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(make_complaint):
    outbox = Outbox.objects.filter(complaint_id=make_complaint().pk).first()
    mail.outbox.clear()
    return EmailDelivery.objects.create(
        outbox=outbox,
        complaint_id=outbox.complaint_id,
        recipient="pat@example.org",
        kind=MessageTemplateKind.RECEIPT,
        subject="We have your complaint",
        body_text="Thank you.",
        rfc_message_id=make_msgid(domain="redress.invalid"),
    )


def test_a_fresh_claim_is_not_sent_again(queued):
    EmailDelivery.objects.filter(pk=queued.pk).update(
        status=EmailStatus.SENDING, claimed_at=timezone.now()
    )

    assert emailing.send(queued.pk) is False
    assert tasks.redeliver()["emails_sent"] == 0
    assert mail.outbox == []


def test_a_refused_send_releases_the_claim_for_the_retry(queued, monkeypatch):
    def refuse(self, fail_silently=False):
        raise SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(emailing.EmailMultiAlternatives, "send", refuse)

    with pytest.raises(SMTPServerDisconnected):
        emailing.send(queued.pk)

    queued.refresh_from_db()
    assert (queued.status, queued.claimed_at) == (EmailStatus.QUEUED, None)


def test_a_stale_claim_is_sent_again_under_the_same_message_id(queued, settings):
    settings.REDRESS_EMAIL_CLAIM_TIMEOUT = 600
    claimed = timezone.now() - timedelta(seconds=601)
    EmailDelivery.objects.filter(pk=queued.pk).update(
        status=EmailStatus.SENDING, claimed_at=claimed
    )

    assert tasks.redeliver()["emails_sent"] == 1

    (sent,) = mail.outbox
    assert sent.extra_headers["Message-ID"] == queued.rfc_message_id
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == (EmailStatus.SENT, 1)


def test_a_claim_younger_than_the_timeout_waits(queued, settings):
    settings.REDRESS_EMAIL_CLAIM_TIMEOUT = 600
    EmailDelivery.objects.filter(pk=queued.pk).update(
        status=EmailStatus.SENDING, claimed_at=timezone.now() - timedelta(seconds=599)
    )

    assert tasks.redeliver()["emails_sent"] == 0
    queued.refresh_from_db()
    assert queued.status == EmailStatus.SENDING
