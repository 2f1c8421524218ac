"""Nothing lost, for real: a Redis outage delays notifications but loses and duplicates none.

The issue's acceptance test, end to end with real processes:

1. a throwaway ``redis-server`` of the test's own (never the shared one on 6379) is both
   the Celery broker and the channel layer, for this process and for a real
   ``celery worker`` subprocess that sends email through the file-based backend;
2. with Redis up, a change is delivered by the worker through the fast path;
3. Redis is stopped; complaints keep changing through the API and the services: every
   change commits, quickly, and the broker error is only logged;
4. Redis comes back; a channel-layer client subscribes to the agent's group; once the grace
   period has passed (the events are backdated rather than slept on) the redelivery sweep
   runs on the worker;
5. every event is delivered exactly once to each inbox, every customer email is sent
   exactly once, the socket client is rung for every missed event, and replay from the
   inbox gives each event exactly once. Sweeping and delivering again changes nothing and
   rings no socket, for a subscriber that listens longer than one channel-layer poll (as an
   idle socket consumer does).

Personas (tests/conftest.py): ``agent`` and ``colleague`` work ``team`` (Billing), which
every complaint here is routed to; ``other_agent`` works ``other_team`` and hears nothing;
``customer_user`` complains and is emailed.
"""

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import F

from config import celery_app
from notifications import audience, groups, replay, tasks
from notifications.models import EmailDelivery, EmailStatus, Notification, Outbox
from recovery.models import Complaint
from recovery.services import messages
from tests.conftest import acknowledge, api_client, close_loop, reset_celery_connections, resolve
from tests.factories import CategoryFactory
from tests.notifications.shipped_templates import ensure_default_templates
from tests.processes import free_port

# A cold worker imports Django and every app; 60 s covers a loaded 2-core machine.
PROCESS_START_TIMEOUT_S = 60
# After Redis returns the worker reconnects with its own backoff (2 s, 4 s, ... per Celery's
# consumer), then delivers; two minutes is ample on a slow machine.
RECOVERY_TIMEOUT_S = 120
# Celery finishes the task in hand on SIGTERM (warm shutdown); beyond this it is killed.
PROCESS_STOP_TIMEOUT_S = 30
REDIS_START_TIMEOUT_S = 10
# The "commit must still succeed, quickly": the broker call gives up after its
# 2 s connect timeout (CELERY_BROKER_CONNECTION_TIMEOUT); 5 s leaves room for a busy machine
# while still catching a request that hangs on the broker's default retry policy.
MAX_CHANGE_SECONDS = 5.0
# How long to listen for a push that must not come: longer than channels-redis's 5 s
# BZPOPMIN poll (RedisChannelLayer.brpop_timeout), because a real socket consumer waits that
# long between events all the time and must not be dropped for it.
QUIET_PERIOD_S = 7.0

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class ThrowawayRedis:
    """A private, memory-only redis-server that the test stops and starts at will."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        # No snapshot, no append-only file: when it comes back it is empty, as after a crash.
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server did not start:\n{self.log.read_text()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=PROCESS_STOP_TIMEOUT_S)
        self.process = None


@pytest.fixture
def redis_server(tmp_path):
    server = ThrowawayRedis(tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def this_process_on(redis_server, settings):
    """Point this process's Celery producer and channel layer at the throwaway Redis."""
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = redis_server.url
    reset_celery_connections()
    # The production layer configuration with only the address changed; changing the setting
    # makes Channels build a new layer.
    layer = settings.CHANNEL_LAYERS["default"]
    hosts = [
        {**host, "address": redis_server.url} if isinstance(host, dict) else redis_server.url
        for host in layer["CONFIG"]["hosts"]
    ]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": hosts}}}
    yield redis_server
    celery_app.conf.broker_url = saved
    reset_celery_connections()


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's ``test_<name>``)."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


class Worker:
    """A real ``celery worker`` process on the throwaway Redis and the test database."""

    def __init__(self, *, redis_url: str, email_dir: Path, log: Path):
        self.log = log
        celery = str(Path(sys.executable).parent / "celery")
        command = [celery, "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2"]
        command += ["--hostname", f"outage-{uuid.uuid4().hex[:8]}@%h", "-l", "info"]
        # No gossip, mingle or heartbeats: they only slow start-up and add broker chatter.
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(email_dir),
            "PYTHONUNBUFFERED": "1",
        }
        with log.open("wb") as output:
            # Its own session, so a worker that ignores SIGTERM is killed with its children.
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"the worker exited:\n{self.output()[-3000:]}"

    def connections(self) -> int:
        return self.output().count("Connected to redis://")

    def finished(self, task_id: str) -> bool:
        return f"[{task_id}] succeeded" in self.output()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=PROCESS_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=PROCESS_STOP_TIMEOUT_S)


@pytest.fixture
def worker(this_process_on, tmp_path):
    email_dir = tmp_path / "emails"
    email_dir.mkdir()
    process = Worker(redis_url=this_process_on.url, email_dir=email_dir, log=tmp_path / "w.log")
    process.email_dir = email_dir
    wait_for(lambda: "ready." in process.output(), what="the worker to start", worker=process)
    yield process
    process.stop()


def wait_for(condition, *, what: str, worker: Worker, timeout: float = RECOVERY_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not condition():
        worker.assert_alive()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Timed out after {timeout} s waiting for {what}.\n"
                f"--- worker log\n{worker.output()[-4000:]}"
            )
        time.sleep(0.2)


def sent_emails(email_dir: Path) -> list:
    """Every message the worker's file-based backend wrote (it separates them with dashes)."""
    separator = b"\n" + b"-" * 79 + b"\n"
    found = []
    for path in sorted(email_dir.iterdir()):
        for chunk in path.read_bytes().split(separator):
            if chunk.strip():
                found.append(message_from_bytes(chunk.lstrip(b"\n"), policy=policy.default))
    return found


async def listen(layer, channel: str, user_id: int, want: set[int], timeout: float) -> list[int]:
    """Event ids pushed to ``user_id`` on ``channel`` (which listens on that user's groups,
    as their socket does) until every id in ``want`` came, or ``timeout``."""
    received: list[int] = []
    deadline = time.monotonic() + timeout
    while not want <= set(received):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            message = await asyncio.wait_for(layer.receive(channel), remaining)
        except TimeoutError:
            break
        assert message["type"] == groups.PUSH_TYPE
        if groups.addressed_to(message, user_id):
            received.append(message["event"]["id"])
    return received


class TimedChanges:
    """Runs the changes made during the outage and keeps how long each took to commit."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, change):
        started = time.monotonic()
        result = change()
        self.seconds[name] = time.monotonic() - started
        return result


def test_a_redis_outage_delays_notifications_but_loses_and_duplicates_nothing(
    worker,
    this_process_on,
    agent,
    teammate,
    colleague,
    other_agent,
    customer_user,
    root_causes,
    caplog,
):
    redis_server = this_process_on
    ensure_default_templates()
    CategoryFactory(slug="billing", name="Billing", default_team=agent.teams.get())

    # -- 1. Redis up: the fast path, through the real worker ------------------------------
    submitted = api_client(customer_user).post(
        "/api/complaints/",
        {"subject": "Charged twice", "description": "Two charges.", "category": "billing"},
        format="json",
    )
    assert submitted.status_code == 201, submitted.json()
    first = Complaint.objects.get(reference=submitted.json()["reference"])
    acknowledge(first, teammate)
    wait_for(
        lambda: (
            not Outbox.objects.filter(delivered_at__isnull=True).exists()
            # The receipt of its arrival and the acknowledgement.
            and EmailDelivery.objects.filter(status=EmailStatus.SENT).count() == 2
        ),
        what="the fast path to deliver the first complaint's events",
        worker=worker,
    )
    delivered_on_the_fast_path = set(Outbox.objects.values_list("pk", flat=True))

    # -- 2. Redis down: changes commit quickly, the broker error is only logged ------------
    redis_server.stop()
    timed = TimedChanges()
    customer, staff = api_client(customer_user), api_client(teammate)
    with caplog.at_level(logging.WARNING, logger="notifications.delivery"):
        created = timed(
            "submit over the API",
            lambda: customer.post(
                "/api/complaints/",
                {"subject": "Refund late", "description": "Still waiting.", "category": "billing"},
                format="json",
            ),
        )
        assert created.status_code == 201, created.json()
        second = Complaint.objects.get(reference=created.json()["reference"])
        acknowledged = timed(
            "acknowledge over the API",
            lambda: staff.post(
                f"/api/complaints/{second.reference}/transitions/",
                {
                    "transition": "acknowledge",
                    "message": f"We have your complaint {second.reference}.",
                    "next_steps": "We will reply within 5 days.",
                },
                format="json",
            ),
        )
        assert acknowledged.status_code == 200, acknowledged.json()
        timed(
            "holding reply",
            lambda: messages.complaint_send_holding_reply(
                complaint=second, actor=teammate, message="We need two more weeks."
            ),
        )
        timed(
            "customer reply",
            lambda: messages.message_add(complaint=second, actor=customer_user, body="Thanks."),
        )
        timed(
            "agent reply",
            lambda: messages.message_add(
                complaint=second, actor=teammate, body="Refund is on its way."
            ),
        )
        timed("resolve", lambda: resolve(first, teammate))
        timed("close the loop", lambda: close_loop(first, teammate))
        third = timed(
            "submit under the FCA profile",
            # Staff set the regime (customers may not choose it).
            lambda: Complaint.objects.get(
                reference=api_client(teammate)
                .post(
                    "/api/complaints/",
                    {
                        "subject": "Card blocked",
                        "description": "Blocked abroad.",
                        "category": "billing",
                        "regulatory_profile": "uk_fca_disp",
                        "customer": {"name": "Casey", "email": customer_user.email},
                    },
                    format="json",
                )
                .json()["reference"]
            ),
        )
        timed("acknowledge under the FCA profile", lambda: acknowledge(third, teammate))
        timed("resolve under the FCA profile", lambda: resolve(third, teammate))
    worker.assert_alive()

    slow = {name: s for name, s in timed.seconds.items() if s >= MAX_CHANGE_SECONDS}
    assert not slow, f"changes waited on the dead broker: {slow}"
    made_in_the_outage = (
        set(Outbox.objects.values_list("pk", flat=True)) - delivered_on_the_fast_path
    )
    # One event per change; each submission is also routed to a team (its own staff-only
    # event), and closing the loop also sends the survey.
    submissions = sum(1 for name in timed.seconds if name.startswith("submit"))
    assert submissions == 2
    assert len(made_in_the_outage) == len(timed.seconds) + submissions + 1
    assert not Outbox.objects.filter(pk__in=made_in_the_outage, delivered_at__isnull=False).exists()
    # Routing tells nobody (a staff-only timeline entry): no socket rings for it.
    rung_in_the_outage = set(
        Outbox.objects.filter(pk__in=made_in_the_outage)
        .exclude(event_type="complaint.routed")
        .values_list("pk", flat=True)
    )
    broker_warnings = [r for r in caplog.records if "Broker unavailable" in r.getMessage()]
    assert len(broker_warnings) == len(timed.seconds)  # one fast-path attempt per commit
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in broker_warnings)

    # -- 3. Redis back: subscribe, let the grace period pass, sweep on the worker ----------
    redis_server.start()
    # Subscribe once the worker is back on the broker, so the pushes follow within moments.
    wait_for(lambda: worker.connections() >= 2, what="the worker to reconnect", worker=worker)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    for group in groups.staff_groups(agent.pk, audience.teams_of(agent.pk)):
        async_to_sync(layer.group_add)(group, channel)
    Outbox.objects.filter(pk__in=made_in_the_outage).update(
        created_at=F("created_at") - tasks.REDELIVERY_GRACE - timedelta(seconds=1)
    )
    sweep = tasks.redeliver.apply_async()
    pushed = async_to_sync(listen)(layer, channel, agent.pk, rung_in_the_outage, RECOVERY_TIMEOUT_S)
    wait_for(lambda: worker.finished(sweep.id), what="the redelivery sweep", worker=worker)
    wait_for(
        lambda: not EmailDelivery.objects.filter(status=EmailStatus.QUEUED).exists(),
        what="the emails the sweep queued to be sent",
        worker=worker,
    )

    # -- 4. Sweep and deliver everything once more: nothing changes ------------------------
    emails_before = sorted(EmailDelivery.objects.values_list("pk", "status", "attempts"))
    notifications_before = Notification.objects.count()
    assert tasks.redeliver() == {"delivered": 0, "emails_sent": 0}
    again = [
        tasks.deliver_outbox.apply_async(
            args=[sorted(Outbox.objects.values_list("pk", flat=True))]
        ),
        *(
            tasks.send_email.apply_async(args=[pk])
            for pk in EmailDelivery.objects.values_list("pk", flat=True)
        ),
    ]
    wait_for(
        lambda: all(worker.finished(result.id) for result in again),
        what="the repeated deliveries and sends",
        worker=worker,
    )
    assert Notification.objects.count() == notifications_before
    assert sorted(EmailDelivery.objects.values_list("pk", "status", "attempts")) == emails_before

    # -- 5. Exactly once: inboxes, emails, socket and replay -------------------------------
    rows = list(Outbox.objects.order_by("id"))
    assert all(row.delivered_at is not None and row.attempts == 1 for row in rows)
    per_user_event = Counter(Notification.objects.values_list("outbox_id", "user_id"))
    assert set(per_user_event.values()) == {1}
    # Routing is recorded for the timeline and tells nobody: the team hears of the
    # complaint once, by its "received" event.
    telling = [row for row in rows if row.event_type != "complaint.routed"]
    told = {(outbox_id, user_id) for outbox_id, user_id in per_user_event if user_id != teammate.pk}
    assert told == {(row.pk, user.pk) for row in telling for user in (agent, colleague)}
    # The teammate who made the changes is told of everything but them.
    assert {outbox_id for outbox_id, user_id in per_user_event if user_id == teammate.pk} == {
        row.pk for row in telling if row.payload.get("actor_id") != teammate.pk
    }
    assert not Notification.objects.filter(user=other_agent).exists()

    emails = list(EmailDelivery.objects.order_by("outbox_id"))
    assert [(e.outbox.event_type, e.kind, e.complaint_id) for e in emails] == [
        ("complaint.received", "receipt", first.pk),
        ("complaint.acknowledged", "acknowledgement", first.pk),
        ("complaint.received", "receipt", second.pk),
        ("complaint.acknowledged", "acknowledgement", second.pk),
        ("complaint.message_added", "holding", second.pk),
        ("complaint.message_added", "reply", second.pk),
        ("complaint.resolved", "resolution", first.pk),
        ("complaint.loop_closed", "loop_closing", first.pk),
        ("complaint.survey_sent", "survey_invitation", first.pk),
        ("complaint.received", "receipt", third.pk),
        ("complaint.acknowledged", "acknowledgement", third.pk),
        ("complaint.resolved", "resolution", third.pk),
    ]
    assert all(e.status == EmailStatus.SENT and e.attempts == 1 for e in emails)
    files = sent_emails(worker.email_dir)
    sent_ids = Counter(str(message["Message-ID"]).strip() for message in files)
    assert sent_ids == Counter(e.rfc_message_id for e in emails)  # each once, none extra
    fca_resolution = next(
        m for m in files if str(m["Message-ID"]).strip() == emails[-1].rfc_message_id
    )
    assert "Financial Ombudsman Service" in fca_resolution.get_body(("plain",)).get_content()

    # The socket is a doorbell: rung at least once for every event missed in the outage,
    # and never for anything else; replaying from the inbox gives each event exactly once.
    assert rung_in_the_outage <= set(pushed), sorted(rung_in_the_outage - set(pushed))
    assert set(pushed) <= rung_in_the_outage
    replayed = [event["id"] for event in replay.missed_by_user(agent.pk, 0)]
    assert replayed == [row.pk for row in telling]
    missed_since_the_outage = replay.missed_by_user(agent.pk, max(delivered_on_the_fast_path))
    assert [event["id"] for event in missed_since_the_outage] == sorted(rung_in_the_outage)

    # -- 6. The socket stays quiet: repeated deliveries rang nobody -------------------------
    # (listening longer than one channel-layer poll, as an idle socket consumer does).
    assert async_to_sync(listen)(layer, channel, agent.pk, {0}, QUIET_PERIOD_S) == []
