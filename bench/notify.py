"""Socket fan-out: commit-to-receipt latency of notification events to many agents.

    .venv/bin/python bench/notify.py [--clients 500] [--transitions 200] [--rate 5]
                                     [--workers 2] [--api-workers 1] [--celery-workers 2]
                                     [--client-processes 2] [--compression deflate|none]
                                     [--server-deflate]

What it does, in order:

1. Sets a production-like environment (DEBUG off, SSL redirect off because the bench speaks
   plain HTTP to 127.0.0.1, emails to Django's in-memory backend) with its own database and
   Redis db, so it never touches anyone else's data. Empties that Redis db (a previous
   run's group memberships would otherwise be pushed to as well).
2. Creates the database if missing, migrates it, and (in a subprocess, so this process never
   imports Django) makes one team of ``--clients`` agents with API tokens, an acting agent
   on the same team, and ``ceil(transitions / 3)`` new complaints routed to that team.
3. Starts uvicorn (``config.asgi:application``, ``--workers``; with ``--api-workers N``, 1
   unless told, a second uvicorn of N workers serves the API, so the sockets' server does
   nothing else, as docs/operations.md advises for large teams; 0 serves both from one) and
   ``--celery-workers`` Celery workers (solo pool each) on free loopback ports, and waits
   until the intake events of the new complaints have been delivered, so the run starts with
   an empty queue. As the Procfile's, the server declines permessage-deflate unless
   ``--server-deflate``.
4. Connects one websocket per agent (``/ws/events/?token=…``) from ``--client-processes``
   processes of their own (uvloop when installed), so that receiving 500 sockets' pushes is
   never queued behind this process sending the transitions, nor the other way round. Each
   client notes the wall-clock time a frame is handed over and parses it only after the run;
   once connected, the clients' objects are frozen out of garbage collection (``gc.freeze``),
   whose full collections would otherwise be timed as latency.
5. Makes ``--transitions`` transitions through the HTTP API at ``--rate`` per second
   (open loop): every acknowledge first, then every resolve, then every close_loop, so each
   complaint's steps are seconds apart and in order. Each transition's event goes to the
   whole team: every client should receive every event once.
6. Waits until every expected push came and nothing more for 2 s (at most ``--drain``
   seconds after the last answer), then prints latency, throughput and where the CPU went,
   and checks in the database that every event was delivered to every inbox.

Latency is measured on this machine's clock:
- commit->receipt: from the outbox row's ``committed_at`` (noted by the on-commit hook of the
  transition's transaction, just after its commit, and sent to the worker with the task) to
  receipt at the client; where a row has none (the redelivery sweep delivered it), from its
  ``created_at``. It is split at the row's ``delivered_at`` (when the worker wrote the inbox
  rows, just before their commit and the ring): queue + worker, then ring + server + client;
- created->receipt: from the outbox row's ``created_at``, taken inside the transaction before
  the transition's remaining work and its commit: an upper bound;
- answer->receipt: from the moment the API response reached the bench: a lower bound (the
  push can overtake the response, which then counts as 0);
- client loop lag: how late the client processes' event loops woke from a 10 ms sleep during
  the run, i.e. how long a frame that had arrived could wait before it was timed. It bounds
  the bench's own share of the latency.
CPU is read from /proc for the server, the workers, the clients, this process and the
PostgreSQL backends alive at the start and the end (others are missed: ">=").

Exit status: 0 verified; 1 a check failed (failed transitions, duplicate pushes, events not
delivered to every inbox); 2 the bench could not run; 130 interrupted. Pushes the channel
layer dropped (it is a doorbell and drops by design; clients replay from the database) are
counted and printed, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
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
# Connections opened at once per client process: each costs the server a token lookup and
# a role query.
CONNECT_CONCURRENCY = 25
# How often the client processes check their own event loop's lateness.
LAG_PROBE_S = 0.01
# The run is over when every expected push came and nothing more for this long.
QUIET_AFTER_S = 2.0
# A cold start imports Django, DRF, Channels and Celery in each process.
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
REQUEST_TIMEOUT_S = 30

SETUP_SNIPPET = f"""
import json, sys, uuid
import django

django.setup()
from django.contrib.auth import get_user_model
from recovery.services.api_tokens import api_token_issue

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
# Exactly these people on the team: every event reaches the clients (the actor is never
# told of their own action, docs/notifications.md).
team.members.set(users.values())
tokens = {{name: api_token_issue(user=user)[1] for name, user in users.items()}}
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


@dataclass(frozen=True)
class Receipt:
    """One push as a client received it; times are this machine's wall clock (epoch s)."""

    client: int
    event_id: int
    event_type: str
    reference: str
    created_at: float
    received_wall: float


@dataclass
class Run:
    transitions: list[Transition]
    receipts: list[Receipt] = field(default_factory=list)
    # (when, how late) samples of the client processes' event loops.
    lags: list[tuple[float, float]] = field(default_factory=list)
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


def uvicorn_command(port: int, workers: int, server_deflate: bool) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--lifespan",
        "on",
        # As the Procfile: the server declines the compression browsers offer, unless told.
        "--ws-per-message-deflate",
        "true" if server_deflate else "false",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def start_children(children: Children, args, port: int, api_port: int | None) -> None:
    children.spawn("uvicorn", uvicorn_command(port, args.workers, args.server_deflate))
    if api_port is not None:
        children.spawn(
            "uvicorn-api", uvicorn_command(api_port, args.api_workers, args.server_deflate)
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


# -- the clients: separate processes, so receiving is not queued behind sending -------------


def client_process(
    conn, stop, ws_base: str, origin: str, tokens: list[str], first: int, args
) -> None:
    """A client process: opens its share of the sockets and records what they receive.

    Talks to the bench over ``conn``: sends ``("connected", n)``, ``("progress", count)``
    about four times a second and finally ``("done", receipts, lags)``; stops on ``"stop"``.
    Each receipt is taken as the frame is handed over, and parsed only after the run, so the
    measuring costs as little as possible while it matters.
    """
    # The bench's own SIGINT handling stops the children; a Ctrl-C here would only race it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        run(client_main(conn, stop, ws_base, origin, tokens, first, args))
    except Exception as error:
        traceback.print_exc()
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(error).__name__}: {error}"))


async def client_main(conn, stop, ws_base: str, origin: str, tokens: list[str], first: int, args):
    loop = asyncio.get_running_loop()
    sockets = await open_sockets(ws_base, origin, tokens, args.compression)
    # The sockets live as long as the run: out of the garbage collector's full collections,
    # as the servers' start-up objects are (config/heap.py), so those are not timed as latency.
    gc.collect()
    gc.freeze()
    conn.send(("connected", len(sockets)))
    raw: list[tuple[int, float, str]] = []
    lags: list[tuple[float, float]] = []

    async def listen(number: int, websocket) -> None:
        with contextlib.suppress(Exception):
            async for frame in websocket:
                raw.append((number, time.time(), frame))

    async def watch_lag() -> None:
        # How late this loop wakes from a short sleep: the time a frame that arrived may
        # have waited here before it was timed. It bounds the bench's own share of latency.
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_PROBE_S)
            lags.append((time.time(), loop.time() - started - LAG_PROBE_S))

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(0.25)
            conn.send(("progress", len(raw)))

    tasks = [
        asyncio.create_task(listen(first + number, websocket))
        for number, websocket in enumerate(sockets)
    ]
    tasks += [asyncio.create_task(watch_lag()), asyncio.create_task(report_progress())]
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for websocket in sockets:
        with contextlib.suppress(Exception):
            await websocket.close()
    receipts = []
    for number, received_wall, frame in raw:
        message = json.loads(frame)
        if message.get("type") != "event":
            continue
        event = message["event"]
        receipts.append(
            (
                number,
                event["id"],
                event["type"],
                event["complaint"],
                datetime.fromisoformat(event["created_at"]).timestamp(),
                received_wall,
            )
        )
    conn.send(("done", receipts, lags))


async def open_sockets(ws_base: str, origin: str, tokens: list[str], compression: str) -> list:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(token: str):
        async with gate:
            websocket = await websocket_connect(
                f"{ws_base}/ws/events/?token={token}",
                origin=origin,
                open_timeout=REQUEST_TIMEOUT_S,
                # Pings would only add traffic to what is measured; the run is short.
                ping_interval=None,
                compression="deflate" if compression == "deflate" else None,
            )
            # Joined to its groups once it answers (group_add happens before accept).
            await websocket.send(json.dumps({"type": "heartbeat"}))
            answer = json.loads(await asyncio.wait_for(websocket.recv(), REQUEST_TIMEOUT_S))
            if answer != {"type": "heartbeat"}:
                raise BenchFailed(f"unexpected first message {answer}")
            return websocket

    return await asyncio.gather(*(one(token) for token in tokens))


class ClientPool:
    """The client processes, each with a contiguous share of the tokens."""

    def __init__(self, base_url: str, tokens: list[str], args):
        context = multiprocessing.get_context("fork")
        share = math.ceil(len(tokens) / args.client_processes)
        self.conns, self.processes = [], []
        self.received = {}
        self.stopping = context.Event()
        for first in range(0, len(tokens), share):
            parent, child = context.Pipe()
            process = context.Process(
                target=client_process,
                args=(
                    child,
                    self.stopping,
                    base_url.replace("http://", "ws://"),
                    base_url,
                    tokens[first : first + share],
                    first,
                    args,
                ),
                daemon=True,
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)
            self.received[parent] = 0

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_connected(self, timeout: float) -> int:
        connected, waiting = 0, set(self.conns)
        deadline = time.monotonic() + timeout
        while waiting:
            ready = multiprocessing.connection.wait(
                list(waiting), max(0.0, deadline - time.monotonic())
            )
            if not ready:
                raise BenchFailed(f"sockets not connected after {timeout:.0f} s")
            for conn in ready:
                message = self._recv(conn)
                if message[0] == "connected":
                    connected += message[1]
                    waiting.discard(conn)
        return connected

    def received_so_far(self) -> int:
        for conn in self.conns:
            while conn.poll():
                message = self._recv(conn)
                if message[0] == "progress":
                    self.received[conn] = message[1]
        return sum(self.received.values())

    def stop(self, timeout: float) -> tuple[list, list]:
        receipts, lags = [], []
        self.stopping.set()
        for conn in self.conns:
            deadline = time.monotonic() + timeout
            while True:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    raise BenchFailed("a client process did not report its receipts")
                message = self._recv(conn)
                if message[0] == "done":
                    receipts += message[1]
                    lags += message[2]
                    break
        return receipts, lags

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()

    @staticmethod
    def _recv(conn):
        try:
            message = conn.recv()
        except EOFError:
            raise BenchFailed("a client process exited early") from None
        if message[0] == "error":
            raise BenchFailed(f"a client process failed: {message[1]}")
        return message


# -- the run -------------------------------------------------------------------------------


async def transition(client: httpx.AsyncClient, token: str, step: Transition) -> None:
    if step.after is not None:
        await step.after.answered.wait()
    step.sent_at = time.time()
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
    step.answered_at = time.time()
    step.answered.set()


async def drive(base_url: str, setup: Setup, run: Run, clients: ClientPool, args) -> None:
    """Send the transitions on schedule, then wait for the pushes to come in."""
    expected = len(setup.tokens) * len(run.transitions)

    async def keep_reading_progress() -> None:
        # Drain the clients' progress reports so their pipes never fill and block them.
        while True:
            clients.received_so_far()
            await asyncio.sleep(0.25)

    reader = asyncio.create_task(keep_reading_progress())
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:
        run.started_at = time.time()
        requests = []
        for index, step in enumerate(run.transitions):
            # Open loop: the schedule does not wait for answers, as real agents would not.
            delay = run.started_at + index / args.rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            requests.append(asyncio.create_task(transition(client, setup.actor_token, step)))
        await asyncio.gather(*requests)
    run.last_answer_at = max(step.answered_at for step in run.transitions)
    drain_until = time.monotonic() + args.drain
    # The clients count every push, other events' too (survey invitations, late intake
    # events): wait for at least the expected number, then until nothing more comes for a
    # while, or the end of the drain window.
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < drain_until:
        count = clients.received_so_far()
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif count >= expected and time.monotonic() - last_change > QUIET_AFTER_S:
            break
        await asyncio.sleep(0.1)
    reader.cancel()


# -- report --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    return (
        f"{percentile(ordered, 0.5):.1f} / {percentile(ordered, 0.99):.1f} / {ordered[-1]:.1f} ms"
    )


def inbox_rows(database_url: str, event_ids: list[int]) -> dict[int, int]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT outbox_id, count(*) FROM notifications_notification "
            "WHERE outbox_id = ANY(%s) GROUP BY outbox_id",
            [event_ids],
        ).fetchall()
    return dict(rows)


@dataclass(frozen=True)
class OutboxRow:
    pk: int
    created_at: float
    delivered_at: float | None
    committed_at: float | None = None

    @property
    def commit(self) -> float:
        """When the change committed; the row's creation where the commit was not noted."""
        return self.created_at if self.committed_at is None else self.committed_at


def outbox_rows(database_url: str, setup: Setup) -> dict[tuple[str, str], OutboxRow]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT payload->>'reference', event_type, id, extract(epoch FROM created_at), "
            "extract(epoch FROM delivered_at), extract(epoch FROM committed_at) "
            "FROM notifications_outbox "
            "WHERE payload->>'reference' = ANY(%s) AND event_type <> 'complaint.received'",
            [setup.references],
        ).fetchall()
    return {
        (reference, kind): OutboxRow(
            pk,
            float(created),
            None if delivered is None else float(delivered),
            None if committed is None else float(committed),
        )
        for reference, kind, pk, created, delivered, committed in rows
    }


def report(args, setup: Setup, run: Run, database_url: str, cpu: dict[str, str]) -> list[str]:
    problems = []
    done = [step for step in run.transitions if step.status == 200]
    failed = [step for step in run.transitions if step.status != 200]
    if failed:
        kinds = Counter(f"{step.name} -> {step.status} {step.error[:160]}" for step in failed)
        problems.append(f"{len(failed)} transitions failed:")
        problems += [f"  {count} x {kind}" for kind, count in kinds.most_common(3)]
    events = outbox_rows(database_url, setup)
    wanted: dict[int, tuple[Transition, OutboxRow]] = {}
    late = []
    for step in done:
        found = events.get((step.reference, step.event_type))
        if found is None:
            problems.append(f"no outbox row for {step.reference} {step.event_type}")
            continue
        if found.delivered_at is None:
            late.append(found.pk)
        wanted[found.pk] = (step, found)
    if late:
        problems.append(
            f"{len(late)} outbox rows not delivered by the end of the drain, e.g. {late[:5]}"
        )
    inbox = inbox_rows(database_url, list(wanted))
    # Everyone on the team but the actor, who is never told of their own action.
    short = {pk: count for pk, count in inbox.items() if count != setup.team_size - 1}
    missing_inbox = [pk for pk in wanted if pk not in inbox]
    if short or missing_inbox:
        problems.append(
            f"inbox rows: {len(missing_inbox)} events with none, {len(short)} with a count "
            f"other than the team's {setup.team_size} less the actor"
        )

    ours = [receipt for receipt in run.receipts if receipt.event_id in wanted]
    per_client = Counter((receipt.client, receipt.event_id) for receipt in ours)
    duplicates = sum(count - 1 for count in per_client.values() if count > 1)
    if duplicates:
        problems.append(f"{duplicates} pushes arrived twice at the same client")
    expected = len(setup.tokens) * len(wanted)
    missed = expected - len(per_client)
    stray = len(run.receipts) - len(ours)

    def ms(seconds: float) -> float:
        return max(0.0, seconds) * 1000

    from_commit = [ms(r.received_wall - wanted[r.event_id][1].commit) for r in ours]
    from_created = [ms(r.received_wall - wanted[r.event_id][1].created_at) for r in ours]
    noted = sum(row.committed_at is not None for _, row in wanted.values())
    from_answer = [ms(r.received_wall - wanted[r.event_id][0].answered_at) for r in ours]
    from_delivered = [
        ms(r.received_wall - wanted[r.event_id][1].delivered_at)
        for r in ours
        if wanted[r.event_id][1].delivered_at is not None
    ]
    to_delivered = [
        ms(row.delivered_at - row.commit)
        for _, row in wanted.values()
        if row.delivered_at is not None
    ]
    api = [ms(step.answered_at - step.sent_at) for step in done]
    last_receipt = max((r.received_wall for r in ours), default=float("nan"))
    window = last_receipt - run.started_at
    lag = [ms(delay) for at, delay in run.lags if run.started_at <= at <= last_receipt]
    rows = [
        (
            "clients (websockets)",
            f"{len(setup.tokens)} (team of {setup.team_size}) in "
            f"{args.client_processes} processes, compression {args.compression} offered, "
            f"{'accepted' if args.server_deflate else 'declined'} by the server",
        ),
        (
            "server",
            f"uvicorn config.asgi:application --workers {args.workers}"
            + (
                f"; API on its own uvicorn, --workers {args.api_workers}"
                if args.api_workers
                else " (sockets and API)"
            ),
        ),
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
        ordered = sorted(from_commit)
        rows += [
            (
                "commit->receipt p50",
                f"{percentile(ordered, 0.50):.1f} ms  (from the commit noted on "
                f"{noted} of {len(wanted)} events; created_at on the others)",
            ),
            (
                "commit->receipt p99",
                f"{percentile(ordered, 0.99):.1f} ms  (target {P99_TARGET_MS:.0f} ms)",
            ),
            ("commit->receipt max", f"{ordered[-1]:.1f} ms"),
            (
                "created->receipt",
                f"{spread(from_created)}  p50/p99/max, from outbox created_at (upper bound)",
            ),
            (
                "  commit->delivered",
                f"{spread(to_delivered)}  p50/p99/max, queue + worker (per event)",
            ),
            (
                "  delivered->receipt",
                f"{spread(from_delivered)}  after the worker: ring, server, client",
            ),
            ("answer->receipt", f"{spread(from_answer)}  from the API response (lower bound)"),
        ]
    rows += [
        ("API transition", f"{spread(api)}"),
        ("client loop lag", f"{spread(lag)}  how late the clients' loops woke (bench's own share)"),
        ("connect time", f"{run.connect_s:.1f} s for {len(setup.tokens)} sockets"),
        *((f"CPU {name}", value) for name, value in cpu.items()),
        ("CPUs / load avg (1 min)", f"{os.cpu_count()} / {os.getloadavg()[0]:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return problems


# -- CPU accounting ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used, from /proc (None once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "(comm)": state ppid ... utime (12th) stime (13th).
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(roots: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def postgres_backends(database_url: str) -> list[int]:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [pid for (pid,) in rows]


class CpuMeter:
    """CPU used by each part of the run between ``start`` and ``stop``, from /proc."""

    def __init__(self, parts: dict[str, list[int]], database_url: str):
        # Part name -> its processes (the server's and the workers' found once, at start).
        self.parts = parts
        self.database_url = database_url

    def snapshot(self) -> dict[str, dict[int, float]]:
        pids = dict(self.parts)
        pids["PostgreSQL"] = postgres_backends(self.database_url)
        return {
            name: {pid: used for pid in found if (used := cpu_seconds(pid)) is not None}
            for name, found in pids.items()
        }

    def start(self) -> None:
        self.before = self.snapshot()
        self.started = time.monotonic()

    def stop(self) -> dict[str, str]:
        after = self.snapshot()
        elapsed = time.monotonic() - self.started
        spent = {}
        for name, used in after.items():
            seconds = sum(now - self.before[name].get(pid, 0.0) for pid, now in used.items())
            # Backends that came and went in between (a connection per request) are lost.
            floor = ">= " if name == "PostgreSQL" else ""
            spent[name] = f"{floor}{seconds:.1f} s  ({seconds / elapsed * 100:.0f}% of one CPU)"
        return spent


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
        "--rate",
        type=bounded(float, 0.1, MAX_RATE),
        default=5.0,
        help="transitions per second",
    )
    parser.add_argument("--workers", type=bounded(int, 1, MAX_WORKERS), default=2)
    parser.add_argument(
        "--api-workers",
        type=bounded(int, 0, MAX_WORKERS),
        default=1,
        help="serve the API from its own uvicorn with this many workers (0: the same server "
        "as the sockets)",
    )
    parser.add_argument("--celery-workers", type=bounded(int, 1, MAX_WORKERS), default=2)
    parser.add_argument(
        "--drain",
        type=bounded(float, 1, 120),
        default=30.0,
        help="seconds to wait for the last pushes after the last transition answered",
    )
    parser.add_argument(
        "--client-processes",
        type=bounded(int, 1, MAX_WORKERS),
        default=2,
        help="processes the websocket clients are spread over",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="offer permessage-deflate as browsers do (default), or not",
    )
    parser.add_argument(
        "--server-deflate",
        action="store_true",
        help="let the server accept permessage-deflate (the Procfile's server declines it)",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument(
        "--timeout", type=bounded(int, 30, 3600), default=600, help="give up after this many s"
    )
    return parser.parse_args(argv)


def measure(
    children: Children, base_url: str, api_url: str, setup: Setup, run: Run, args, database_url: str
):
    """Connect the clients, make the transitions, collect the receipts; returns CPU used."""
    clients = ClientPool(base_url, setup.tokens, args)
    try:
        started = time.monotonic()
        connected = clients.wait_connected(START_TIMEOUT_S + len(setup.tokens) / 5)
        run.connect_s = time.monotonic() - started
        print(f"connected {connected} websockets in {run.connect_s:.1f} s")
        children.check_alive()
        pids = {name: process.pid for name, process in children.processes}
        parts = {"server (uvicorn)": descendants([pids["uvicorn"]])}
        if "uvicorn-api" in pids:
            parts["  API server (uvicorn)"] = descendants([pids["uvicorn-api"]])
        parts["celery workers"] = descendants(
            [pid for name, pid in pids.items() if name.startswith("celery")]
        )
        parts["client processes"] = clients.pids
        parts["bench (transitions)"] = [os.getpid()]
        meter = CpuMeter(parts, database_url)
        meter.start()
        try:
            asyncio.run(asyncio.wait_for(drive(api_url, setup, run, clients, args), args.timeout))
        except TimeoutError:
            raise BenchFailed(f"the run did not finish within {args.timeout} s") from None
        cpu = meter.stop()
        receipts, run.lags = clients.stop(timeout=REQUEST_TIMEOUT_S)
        run.receipts = [Receipt(*receipt) for receipt in receipts]
        return cpu
    finally:
        clients.close()


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
    api_port = free_port() if args.api_workers else None
    api_url = f"http://{HOST}:{api_port}" if api_port else base_url
    with tempfile.TemporaryDirectory(prefix="redress-bench-notify-") as scratch:
        children = Children(env, Path(scratch))
        try:
            start_children(children, args, port, api_port)
            wait_ready(children, base_url, setup.actor_token)
            wait_ready(children, api_url, setup.actor_token)
            wait_queue_empty(children, database_url, setup.outbox_baseline)
            cpu = measure(children, base_url, api_url, setup, run, args, database_url)
            problems = report(args, setup, run, database_url, cpu)
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
