"""A worker killed mid-send: the customer's email is never lost, and a copy is the same message.

A real SMTP server (aiosmtpd, in a thread of this process) takes the first attempt at each
message in, then stalls before answering DATA; a real Celery worker sending it is killed
with SIGKILL right then. The message has reached the server, and the worker never learnt it.

1. The claim: the row says ``sending`` (committed before the SMTP call), so the send task,
   run again, does not send it again at once.
2. Recovery: once the claim is older than ``REDRESS_EMAIL_CLAIM_TIMEOUT`` the redelivery
   sweep, in a fresh worker, sends it again, with the same Message-ID.
3. The database records one send per email; every copy that arrived has the row's
   Message-ID, so mail clients show one message.

``REDRESS_EMAIL_KILL_ROUNDS`` (default 2) sets how many workers are killed; the test prints
how many emails arrived twice and how many of those shared their Message-ID.
"""

import asyncio
import email
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from celery import Celery
from django.conf import settings

from config.celery import app as celery_app
from notifications import emailing
from notifications.models import EmailDelivery, EmailStatus, MessageTemplateKind, Outbox
from tests.processes import (
    HOST,
    START_TIMEOUT_S,
    Child,
    free_port,
    subprocess_environment,
    wait_until_worker_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROUNDS = int(os.environ.get("REDRESS_EMAIL_KILL_ROUNDS", "2"))
# Longer than any round takes: the first attempt at a message never gets its answer.
STALL_S = 120
ARRIVAL_TIMEOUT_S = 30
CLAIM_TIMEOUT_S = 1


class StallsFirstAttempt:
    """Takes every message in; the first one to each recipient waits for ever for its 250."""

    def __init__(self):
        self.arrivals: dict[str, list[str]] = defaultdict(list)  # recipient → Message-IDs
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message_id = email.message_from_bytes(envelope.content)["Message-ID"]
        (recipient,) = envelope.rcpt_tos
        with self.changed:
            self.arrivals[recipient].append(message_id)
            first = len(self.arrivals[recipient]) == 1
            self.changed.notify_all()
        if first:
            await asyncio.sleep(STALL_S)
        return "250 Message accepted for delivery"

    def wait_for(self, recipient: str, count: int) -> None:
        with self.changed:
            arrived = self.changed.wait_for(
                lambda: len(self.arrivals[recipient]) >= count, ARRIVAL_TIMEOUT_S
            )
        assert arrived, f"{recipient}: {self.arrivals[recipient]}"


@pytest.fixture
def smtp_server():
    handler = StallsFirstAttempt()
    controller = Controller(handler, hostname=HOST, port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def start_worker(env, scratch: Path, name: str) -> tuple[Child, str]:
    node_name = f"{name}-{uuid.uuid4().hex[:8]}@{HOST}"
    worker = Child(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            node_name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "warning",
        ],
        env,
        scratch,
    )
    wait_until_worker_idle(worker, node_name, START_TIMEOUT_S)
    return worker, node_name


def queue_email(outbox: Outbox, recipient: str) -> EmailDelivery:
    return EmailDelivery.objects.create(
        outbox=outbox,
        complaint_id=outbox.complaint_id,
        recipient=recipient,
        kind=MessageTemplateKind.RECEIPT,
        subject="We have your complaint",
        body_text="Your reference is in the subject.",
        rfc_message_id=email.utils.make_msgid(idstring=recipient.split("@")[0]),
    )


def test_a_worker_killed_mid_send_leaves_one_send_and_copies_share_the_message_id(
    make_complaint, smtp_server
):
    handler, smtp_port = smtp_server
    outbox = Outbox.objects.filter(complaint_id=make_complaint().pk).first()
    env = subprocess_environment()
    env.update(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=HOST,
        EMAIL_PORT=str(smtp_port),
        REDRESS_EMAIL_CLAIM_TIMEOUT=str(CLAIM_TIMEOUT_S),
    )
    # Tasks for the workers go through an app of the test's own, on the real broker, to the
    # queue they read (the test process's app talks to an in-memory broker).
    broker = Celery("redress-test-sender", broker=settings.REDIS_URL, set_as_current=False)
    queue = celery_app.conf.task_default_queue
    emails = []
    with tempfile.TemporaryDirectory(prefix="redress-kill-") as scratch:
        worker = None
        try:
            for round_number in range(ROUNDS):
                worker, _ = start_worker(env, Path(scratch), f"worker{round_number}")
                delivery = queue_email(outbox, f"pat{round_number}@example.org")
                emails.append(delivery)
                broker.send_task("notifications.send_email", args=[delivery.pk], queue=queue)
                handler.wait_for(delivery.recipient, 1)
                worker.process.kill()
                worker.process.wait()

                # 1. Claimed before the SMTP call; run again now, the task sends nothing.
                delivery.refresh_from_db()
                assert delivery.status == EmailStatus.SENDING
                assert delivery.claimed_at is not None
                assert delivery.attempts == 0
                assert emailing.send(delivery.pk) is False

            # 2. Recovery, in a fresh worker, once the claims are stale.
            time.sleep(CLAIM_TIMEOUT_S)
            worker, _ = start_worker(env, Path(scratch), "recovery")
            broker.send_task("notifications.redeliver", queue=queue)
            for delivery in emails:
                handler.wait_for(delivery.recipient, 2)
            deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
            while (
                EmailDelivery.objects.filter(pk__in=[e.pk for e in emails])
                .exclude(status=EmailStatus.SENT)
                .exists()
            ):
                worker.check_alive()
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.1)
        finally:
            if worker is not None:
                worker.stop()
            broker.close()

    # 3. One logical send each; every copy carried the row's Message-ID.
    twice = shared = 0
    for delivery in emails:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (EmailStatus.SENT, 1)
        arrived = handler.arrivals[delivery.recipient]
        assert arrived == [delivery.rfc_message_id] * 2
        twice += len(arrived) > 1
        shared += len(set(arrived)) == 1
    print(
        f"\n{ROUNDS} workers killed mid-send: {twice} emails arrived twice, "
        f"{shared} of them under one Message-ID"
    )
    assert twice == shared == ROUNDS
