"""Socket fan-out: commit-to-receipt latency of notification events to many agents.

    .venv/bin/python bench/notify.py [--clients 500] [--transitions 200] [--rate 10]
                                     [--workers 2] [--celery-workers 2]

What it does, in order:

1. Sets a production-like environment (DEBUG off, SSL redirect off because the bench speaks
   plain HTTP to 127.0.0.1, emails to Django's in-memory backend) with its own database and
   Redis db, so it never touches anyone else's data. Empties that Redis db (a previous
   run's group memberships would otherwise be pushed to as well).
2. Creates the database if missing, migrates it, and (in a subprocess, so this process never
   imports Django) makes one team of ``--clients`` agents with API tokens, an acting agent
   on the same team, and ``ceil(transitions / 3)`` new complaints routed to that team.
3. Starts uvicorn (``config.asgi:application``, ``--workers``) and ``--celery-workers`` Celery
   workers (solo pool each) on free loopback ports, and waits until the intake events of
   the new complaints have been delivered, so the run starts with an empty queue.
4. Connects one websocket per agent (``/ws/events/?token=…``), all in this process.
5. Makes ``--transitions`` transitions through the HTTP API at ``--rate`` per second
   (open loop): every acknowledge first, then every resolve, then every close_loop, so each
   complaint's steps are seconds apart and in order. Each transition's event goes to the
   whole team: every client should receive every event once.
6. Waits for the last pushes (at most ``--drain`` seconds), then prints latency and
   throughput, and checks in the database that every event was delivered to every inbox.

Latency is measured two ways, both on this machine's clock:
- from the outbox row's ``created_at`` (taken inside the transaction, just before commit)
  to receipt at the client: an upper bound of commit-to-receipt;
- from the moment the API response reached the bench to receipt: a lower bound (the push
  can overtake the response, which then counts as 0).

Exit status: 0 verified; 1 a check failed (failed transitions, duplicate pushes, events not
delivered to every inbox); 2 the bench could not run; 130 interrupted. Pushes the channel
layer dropped (it is a doorbell and drops by design; clients replay from the database) are
counted and printed, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis
from psycopg import sql
from websockets.asyncio.client import connect as websocket_connect

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_notify"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
HOST = "127.0.0.1"
TEAM_SLUG = "bench-notify"
USERNAME_PREFIX = "bench_notify_"
ACTOR_USERNAME = "bench_notify_actor"
ROOT_CAUSE = "bench.notify"
# Issue 5's target for commit-to-receipt p99.
P99_TARGET_MS = 100.0

# Bounds that keep one run from becoming a load test of the machine itself.
MAX_CLIENTS = 1000
MAX_TRANSITIONS = 3000
MAX_RATE = 100
MAX_WORKERS = 8
# Connections opened at once: each costs the server a token lookup and a role query.
CONNECT_CONCURRENCY = 50
# A cold start imports Django, DRF, Channels and Celery in each process.
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
REQUEST_TIMEOUT_S = 30

SETUP_SNIPPET = f"""
import json, sys, uuid
import django

django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from recovery import roles
from recovery.models import Complaint, RootCause, Team
from recovery.services import intake

clients, complaints = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
groups = roles.ensure_role_groups()
team, _ = Team.objects.get_or_create(slug={TEAM_SLUG!r}, defaults={{"name": "Bench notify"}})
RootCause.objects.get_or_create(code={ROOT_CAUSE!r}, defaults={{"name": "Bench notify"}})
names = [f"{USERNAME_PREFIX}{{number:04d}}" for number in range(clients)] + [{ACTOR_USERNAME!r}]
existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
User.objects.bulk_create([User(username=name, password="!") for name in names if name not in existing])
users = {{user.username: user for user in User.objects.filter(username__in=names)}}
groups[roles.AGENT].user_set.add(*users.values())
# Exactly these people on the team: the fan-out of every event is clients + 1 (the actor).
team.members.set(users.values())
have = set(Token.objects.filter(user__in=users.values()).values_list("user_id", flat=True))
Token.objects.bulk_create(
    [Token(user=user, key=Token.generate_key()) for user in users.values() if user.pk not in have]
)
tokens = dict(Token.objects.filter(user__in=users.values()).values_list("user__username", "key"))
actor = users[{ACTOR_USERNAME!r}]
run = uuid.uuid4().hex[:8]
references = []
for number in range(complaints):
    complaint, _ = intake.complaint_submit(
        actor=actor,
        intake=intake.ComplaintIntake(
            subject=f"Bench notify {{run}} #{{number}}",
            description="Charged twice for one order; please refund the duplicate.",
            customer=intake.CustomerDetails(
                name=f"Bench Customer {{number}}", email=f"c{{number}}.{{run}}@bench.example.com"
            ),
            team={TEAM_SLUG!r},
        ),
    )
    references.append(complaint.reference)
print(json.dumps({{
    "tokens": [tokens[name] for name in names[:-1]],
    "actor_token": tokens[{ACTOR_USERNAME!r}],
    "team_size": team.members.count(),
    "references": references,
    "complaint_table": Complaint._meta.db_table,
}}))
"""


class BenchFailed(Exception):
    """The bench could not run."""


@dataclass(frozen=True)
class Setup:
    tokens: list[str]
    actor_token: str
    team_size: int
    references: list[str]
    complaint_table: str
    # The last outbox id before this run's complaints were made.
    outbox_baseline: int = 0


@dataclass
class Transition:
    reference: str
    name: str
    event_type: str
    sent_at: float = 0.0
    answered_at: float = 0.0
    status: int = 0
    error: str = ""
    # The same complaint's previous step: sent only once that one has been answered.
    after: Transition | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Receipt:
    client: int
    event_id: int
    event_type: str
    reference: str
    created_at: float
    received_wall: float
    received_at: float


@dataclass
class Run:
    transitions: list[Transition]
    receipts: list[Receipt] = field(default_factory=list)
    connect_s: float = 0.0
    started_at: float = 0.0
    last_answer_at: float = 0.0


# -- environment, database, processes ------------------------------------------------------


def require_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BenchFailed(f"{what} must point at this machine (127.0.0.1), not {host!r}.")


def bench_environment(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        # A fresh key per run: the bench signs nothing that must outlive it.
        SECRET_KEY=f"bench-notify-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECURE_SSL_REDIRECT="0",
        REDRESS_DEMO="0",
        # Acknowledgements, resolutions and loop-closings email the customer; keep them in
        # the worker's memory instead of trying an SMTP server.
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def ensure_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise BenchFailed(f"DATABASE_URL {database_url!r} names no database.")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def run_checked(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchFailed(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def prepare(database_url: str, env: dict[str, str], clients: int, transitions: int) -> Setup:
    ensure_database(database_url)
    run_checked([PYTHON, "manage.py", "migrate", "--no-input"], env, "migrate")
    baseline = last_outbox_id(database_url)
    complaints = math.ceil(transitions / 3)
    output = run_checked(
        [PYTHON, "-c", SETUP_SNIPPET, str(clients), str(complaints)], env, "bench setup"
    )
    return Setup(**json.loads(output.strip().splitlines()[-1]), outbox_baseline=baseline)


def empty_redis_db(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def raise_open_file_limit(needed: int) -> None:
    """Each client is a socket here and one in the server: lift the soft limit if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        if new_soft < needed:
            raise BenchFailed(f"open-file limit {hard} is below the {needed} this run needs")


class Children:
    """The server and workers, as child processes this bench owns and stops."""

    def __init__(self, env: dict[str, str], scratch: Path):
        self.env = env
        self.scratch = scratch
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, args: list[str]) -> None:
        log = (self.scratch / f"{name}.log").open("wb")
        # Own session: Ctrl-C reaches the bench, which then stops the children in order.
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise BenchFailed(f"{name} exited with {process.returncode}\n{self.log_tail()}")

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _, process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The process group is the one made for this child (start_new_session): it holds
            # uvicorn's worker processes too, should they outlive their parent.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for name, _ in self.processes:
            path = self.scratch / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} log (tail) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


def start_children(children: Children, args, port: int) -> None:
    children.spawn(
        "uvicorn",
        [
            PYTHON,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--lifespan",
            "on",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    )
    for number in range(args.celery_workers):
        children.spawn(
            f"celery-{number}",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"bench-notify-{number}@{HOST}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "warning",
            ],
        )


def wait_ready(children: Children, base_url: str, token: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        children.check_alive()
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(
                f"{base_url}/api/complaints/?page_size=1",
                headers={"Authorization": f"Token {token}"},
                timeout=5,
                trust_env=False,
            )
            if answer.status_code != 200:
                raise BenchFailed(f"server answered {answer.status_code}: {answer.text[:300]}")
            return
        time.sleep(0.2)
    raise BenchFailed(f"server not ready after {START_TIMEOUT_S} s\n{children.log_tail()}")


def last_outbox_id(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM notifications_outbox").fetchone()
    return last


def undelivered(database_url: str, after_id: int) -> int:
    """Events of this run not delivered yet (an interrupted run's rows wait for the sweeper,
    which this bench does not start, and its queue was emptied)."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM notifications_outbox WHERE delivered_at IS NULL AND id > %s",
            [after_id],
        ).fetchone()
    return count


def wait_queue_empty(children: Children, database_url: str, after_id: int) -> None:
    """The intake events of the new complaints are delivered: the workers are up and idle."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        children.check_alive()
        if undelivered(database_url, after_id) == 0:
            return
        time.sleep(0.5)
    raise BenchFailed(
        f"{undelivered(database_url, after_id)} outbox rows still undelivered after {START_TIMEOUT_S} s "
        f"(workers not running?)\n{children.log_tail()}"
    )


# -- the run -------------------------------------------------------------------------------

TRANSITION_BODIES = {
    "acknowledge": {
        # The acknowledgement must quote the reference (filled in per complaint).
        "message": "Thank you; your reference is {reference}. We are looking into it.",
        "next_steps": "We will reply within five working days.",
    },
    "resolve": {
        "outcome": "upheld",
        "summary": "Refunded the duplicate charge.",
        "root_causes": [ROOT_CAUSE],
    },
    "close_loop": {
        "what_we_found": "A retry in the payment gateway.",
        "what_we_did": "Refunded the charge.",
        "what_will_change": "The gateway no longer retries settled payments.",
    },
}
EVENT_OF = {
    "acknowledge": "complaint.acknowledged",
    "resolve": "complaint.resolved",
    "close_loop": "complaint.loop_closed",
}


def plan_transitions(references: list[str], count: int) -> list[Transition]:
    """Stage by stage, so the steps of one complaint are len(references) / rate s apart."""
    planned, last_of = [], {}
    for name in ("acknowledge", "resolve", "close_loop"):
        for reference in references:
            step = Transition(reference, name, EVENT_OF[name], after=last_of.get(reference))
            last_of[reference] = step
            planned.append(step)
    return planned[:count]


async def listen(number: int, websocket, receipts: list[Receipt]) -> None:
    with contextlib.suppress(Exception):
        async for raw in websocket:
            received_at = time.perf_counter()
            received_wall = time.time()
            message = json.loads(raw)
            if message.get("type") != "event":
                continue
            event = message["event"]
            receipts.append(
                Receipt(
                    client=number,
                    event_id=event["id"],
                    event_type=event["type"],
                    reference=event["complaint"],
                    created_at=datetime.fromisoformat(event["created_at"]).timestamp(),
                    received_wall=received_wall,
                    received_at=received_at,
                )
            )


async def open_sockets(base_url: str, tokens: list[str]) -> list:
    ws_base = base_url.replace("http://", "ws://")
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(token: str):
        async with gate:
            websocket = await websocket_connect(
                f"{ws_base}/ws/events/?token={token}",
                origin=base_url,
                open_timeout=REQUEST_TIMEOUT_S,
                # Pings would only add traffic to what is measured; the run is short.
                ping_interval=None,
            )
            # Joined to its groups once it answers (group_add happens before accept).
            await websocket.send(json.dumps({"type": "heartbeat"}))
            answer = json.loads(await asyncio.wait_for(websocket.recv(), REQUEST_TIMEOUT_S))
            if answer != {"type": "heartbeat"}:
                raise BenchFailed(f"unexpected first message {answer}")
            return websocket

    return await asyncio.gather(*(one(token) for token in tokens))


async def transition(client: httpx.AsyncClient, token: str, step: Transition) -> None:
    if step.after is not None:
        await step.after.answered.wait()
    step.sent_at = time.perf_counter()
    try:
        answer = await client.post(
            f"/api/complaints/{step.reference}/transitions/",
            json={
                "transition": step.name,
                **{
                    name: value.format(reference=step.reference)
                    if isinstance(value, str)
                    else value
                    for name, value in TRANSITION_BODIES[step.name].items()
                },
            },
            headers={"Authorization": f"Token {token}"},
        )
        step.status = answer.status_code
        if answer.status_code != 200:
            step.error = " ".join(answer.text.split())[:300]
    except httpx.HTTPError as error:
        step.error = repr(error)
    step.answered_at = time.perf_counter()
    step.answered.set()


async def drive(base_url: str, setup: Setup, run: Run, args) -> None:
    started = time.perf_counter()
    sockets = await open_sockets(base_url, setup.tokens)
    run.connect_s = time.perf_counter() - started
    print(f"connected {len(sockets)} websockets in {run.connect_s:.1f} s")
    listeners = [
        asyncio.create_task(listen(number, websocket, run.receipts))
        for number, websocket in enumerate(sockets)
    ]
    expected = len(sockets) * len(run.transitions)
    try:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
        ) as client:
            run.started_at = time.perf_counter()
            requests = []
            for index, step in enumerate(run.transitions):
                # Open loop: the schedule does not wait for answers, as real agents would not.
                delay = run.started_at + index / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                requests.append(asyncio.create_task(transition(client, setup.actor_token, step)))
            await asyncio.gather(*requests)
        run.last_answer_at = max(step.answered_at for step in run.transitions)
        drain_until = time.perf_counter() + args.drain
        while len(run.receipts) < expected and time.perf_counter() < drain_until:
            await asyncio.sleep(0.1)
    finally:
        for websocket in sockets:
            with contextlib.suppress(Exception):
                await websocket.close()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)


# -- report --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def inbox_rows(database_url: str, event_ids: list[int]) -> dict[int, int]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT outbox_id, count(*) FROM notifications_notification "
            "WHERE outbox_id = ANY(%s) GROUP BY outbox_id",
            [event_ids],
        ).fetchall()
    return dict(rows)


def outbox_ids(database_url: str, setup: Setup) -> dict[tuple[str, str], tuple[int, bool]]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT payload->>'reference', event_type, id, delivered_at IS NOT NULL "
            "FROM notifications_outbox WHERE payload->>'reference' = ANY(%s) "
            "AND event_type <> 'complaint.received'",
            [setup.references],
        ).fetchall()
    return {(reference, kind): (pk, delivered) for reference, kind, pk, delivered in rows}


def report(args, setup: Setup, run: Run, database_url: str) -> list[str]:
    problems = []
    done = [step for step in run.transitions if step.status == 200]
    failed = [step for step in run.transitions if step.status != 200]
    if failed:
        kinds = Counter(f"{step.name} -> {step.status} {step.error[:160]}" for step in failed)
        problems.append(f"{len(failed)} transitions failed:")
        problems += [f"  {count} x {kind}" for kind, count in kinds.most_common(3)]
    events = outbox_ids(database_url, setup)
    wanted, late = {}, []
    for step in done:
        found = events.get((step.reference, step.event_type))
        if found is None:
            problems.append(f"no outbox row for {step.reference} {step.event_type}")
            continue
        pk, delivered = found
        if not delivered:
            late.append(pk)
        wanted[pk] = step
    if late:
        problems.append(
            f"{len(late)} outbox rows not delivered by the end of the drain, e.g. {late[:5]}"
        )
    inbox = inbox_rows(database_url, list(wanted))
    short = {pk: count for pk, count in inbox.items() if count != setup.team_size}
    missing_inbox = [pk for pk in wanted if pk not in inbox]
    if short or missing_inbox:
        problems.append(
            f"inbox rows: {len(missing_inbox)} events with none, {len(short)} with a count "
            f"other than the team's {setup.team_size}"
        )

    ours = [receipt for receipt in run.receipts if receipt.event_id in wanted]
    per_client = Counter((receipt.client, receipt.event_id) for receipt in ours)
    duplicates = sum(count - 1 for count in per_client.values() if count > 1)
    if duplicates:
        problems.append(f"{duplicates} pushes arrived twice at the same client")
    expected = len(setup.tokens) * len(wanted)
    missed = expected - len(per_client)
    stray = len(run.receipts) - len(ours)

    from_commit = sorted(
        max(0.0, receipt.received_wall - receipt.created_at) * 1000 for receipt in ours
    )
    from_answer = sorted(
        max(0.0, receipt.received_at - wanted[receipt.event_id].answered_at) * 1000
        for receipt in ours
    )
    api = sorted((step.answered_at - step.sent_at) * 1000 for step in done)
    window = (max(r.received_at for r in ours) - run.started_at) if ours else float("nan")
    rows = [
        ("clients (websockets)", f"{len(setup.tokens)} (team of {setup.team_size})"),
        ("server", f"uvicorn config.asgi:application --workers {args.workers}"),
        ("celery workers", f"{args.celery_workers} x solo pool"),
        ("transitions", f"{len(done)} ok, {len(failed)} failed, at {args.rate}/s"),
        ("pushes expected", f"{expected} ({len(wanted)} events x {len(setup.tokens)} clients)"),
        (
            "pushes received",
            f"{len(per_client)} ({missed} missed, {duplicates} duplicates, {stray} other events)",
        ),
        (
            "events/second delivered",
            f"{len(ours) / window:.0f}  (pushes received / time from "
            "first transition to last receipt)",
        ),
    ]
    if ours:
        rows += [
            (
                "commit->receipt p50",
                f"{percentile(from_commit, 0.50):.1f} ms  (from outbox created_at)",
            ),
            (
                "commit->receipt p99",
                f"{percentile(from_commit, 0.99):.1f} ms  (target {P99_TARGET_MS:.0f} ms)",
            ),
            ("commit->receipt max", f"{from_commit[-1]:.1f} ms"),
            (
                "answer->receipt p50",
                f"{percentile(from_answer, 0.50):.1f} ms  (from the API response)",
            ),
            ("answer->receipt p99", f"{percentile(from_answer, 0.99):.1f} ms"),
        ]
    if api:
        rows.append(
            (
                "API transition p50/p99",
                f"{percentile(api, 0.5):.1f} / {percentile(api, 0.99):.1f} ms",
            )
        )
    rows.append(("connect time", f"{run.connect_s:.1f} s for {len(setup.tokens)} sockets"))
    rows.append(("CPUs / load avg (1 min)", f"{os.cpu_count()} / {os.getloadavg()[0]:.2f}"))
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return problems


# -- main ----------------------------------------------------------------------------------


def bounded(kind, low, high):
    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=bounded(int, 1, MAX_CLIENTS), default=500)
    parser.add_argument("--transitions", type=bounded(int, 1, MAX_TRANSITIONS), default=200)
    parser.add_argument(
        "--rate", type=bounded(float, 0.1, MAX_RATE), default=10.0, help="transitions per second"
    )
    parser.add_argument("--workers", type=bounded(int, 1, MAX_WORKERS), default=2)
    parser.add_argument("--celery-workers", type=bounded(int, 1, MAX_WORKERS), default=2)
    parser.add_argument(
        "--drain",
        type=bounded(float, 1, 120),
        default=30.0,
        help="seconds to wait for the last pushes after the last transition answered",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument(
        "--timeout", type=bounded(int, 30, 3600), default=600, help="give up after this many s"
    )
    return parser.parse_args(argv)


def stop_on_sigterm(signum, frame) -> None:
    # Treat SIGTERM as Ctrl-C, so the finally blocks stop the children.
    os.kill(os.getpid(), signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    require_loopback(database_url, "the database URL")
    require_loopback(redis_url, "the Redis URL")
    # Clients' sockets, the server's (inherited by it) and some headroom for files and pools.
    raise_open_file_limit(2 * args.clients + 256)
    env = bench_environment(database_url, redis_url)
    empty_redis_db(redis_url)
    print("preparing database, users and complaints ...")
    setup = prepare(database_url, env, args.clients, args.transitions)
    run = Run(transitions=plan_transitions(setup.references, args.transitions))
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="redress-bench-notify-") as scratch:
        children = Children(env, Path(scratch))
        try:
            start_children(children, args, port)
            wait_ready(children, base_url, setup.actor_token)
            wait_queue_empty(children, database_url, setup.outbox_baseline)
            try:
                asyncio.run(asyncio.wait_for(drive(base_url, setup, run, args), args.timeout))
            except TimeoutError:
                raise BenchFailed(f"the run did not finish within {args.timeout} s") from None
            problems = report(args, setup, run, database_url)
            if problems:
                print(children.log_tail(), file=sys.stderr)
        finally:
            children.stop()
    if problems:
        print("\nFAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(
        "verified: every transition answered 200, every event delivered to every inbox, "
        "no push twice"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"bench failed: {failure}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; server and workers stopped", file=sys.stderr)
        sys.exit(130)
