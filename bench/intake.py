"""Intake throughput: POST /api/complaints/ against the real ASGI server and PostgreSQL.

    .venv/bin/python bench/intake.py [--clients 16] [--requests 2000]
                                     [--server uvicorn|daphne] [--workers 2]

What it does, in order:

1. Sets a production-like environment (DEBUG off, SSL redirect off because the bench speaks
   plain HTTP to 127.0.0.1) and its own database and Redis db, so it never touches anyone
   else's data.
2. Creates the database if missing, migrates it, and makes a bench API user in the
   ``agents`` group with a token (in a subprocess, so this process never imports Django).
3. Starts the server as a subprocess on a free loopback port and waits until it answers.
4. Warms up, then drives ``POST /api/complaints/`` from C concurrent closed-loop clients
   (each sends its next request when the previous one has answered). Half the clients send
   an ``Idempotency-Key``. Bodies are built from the CFPB complaint sample when present.
5. Verifies every response is 201 with a distinct reference and that the database holds
   exactly as many new complaints (and idempotency records) as requests were sent, then
   replays some keyed requests and checks they return the original complaint and create
   nothing. Any mismatch exits non-zero.
6. Prints complaints/second and latency percentiles, and stops the server, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ipaddress
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
# The team's sample data sits beside the repository (shared/data); REDRESS_SHARED_DATA
# points elsewhere.
DEFAULT_DATA = (
    Path(
        os.environ.get(
            "REDRESS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    / "cfpb"
    / "cfpb_complaints_combined.csv"
)
BENCH_USERNAME = "bench_intake"
HOST = "127.0.0.1"

# uvicorn: the production ASGI entry point (Procfile). uvicorn-wsgi: the WSGI entry point
# in uvicorn's thread pool (10 threads a worker), standing in for a WSGI server such as
# gunicorn, which is not a dependency: the Django code path without the ASGI adapter.
UVICORN_INTERFACES = {
    "uvicorn": ["config.asgi:application", "--lifespan", "on"],
    "uvicorn-wsgi": ["config.wsgi:application", "--interface", "wsgi"],
}
SERVER_HELP = (
    "uvicorn: config.asgi as in the Procfile; uvicorn-wsgi: config.wsgi in uvicorn's WSGI "
    "thread pool; daphne: N Daphne processes on one socket"
)

# Bounds that keep one run from becoming a load test of the machine itself.
MAX_REQUESTS = 100_000
MAX_CLIENTS = 256
MAX_WORKERS = 16
# A cold start imports Django, DRF and the apps in every worker; 60 s covers a slow disk.
SERVER_START_TIMEOUT_S = 60
# Long enough for a request queued behind a whole wave of others on an overloaded box.
REQUEST_TIMEOUT_S = 30
# Uvicorn and Daphne finish in-flight requests on SIGTERM; give them this long.
SERVER_STOP_TIMEOUT_S = 15
# Keyed requests sent a second time after the run, to check the replay path.
REPLAY_SAMPLE = 25
# The serializer's limits (api/serializers.py).
SUBJECT_MAX = 200
DESCRIPTION_MAX = 50_000
PRODUCT_MAX = 200

# CFPB "Submitted via" -> Redress channel.
CHANNEL_BY_SUBMISSION = {
    "Web": "web",
    "Email": "email",
    "Phone": "phone",
    "Postal mail": "letter",
    "Fax": "letter",
    "Referral": "api",
}
FIRST_NAMES = ["Ada", "Bayo", "Chen", "Dana", "Elif", "Femi", "Grace", "Hugo", "Ines", "Jonas"]
LAST_NAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Kowalski", "Haddad", "Byrne"]
FALLBACK_ISSUES = [
    ("Card charged twice for one purchase", "Credit card"),
    ("Refund promised but never arrived", "Checking account"),
    ("Fee applied without notice", "Savings account"),
    ("Transfer delayed for over a week", "Money transfer"),
    ("Wrong information on my report", "Credit reporting"),
    ("Collector keeps calling after I paid", "Debt collection"),
]

# Runs inside the bench environment with Django set up: idempotent, prints one JSON line.
SETUP_SNIPPET = f"""
import json
import django

django.setup()
from django.contrib.auth import get_user_model
from recovery.services.api_tokens import api_token_issue

from recovery import roles
from recovery.models import Complaint, IdempotencyKey

groups = roles.ensure_role_groups()
user, created = get_user_model().objects.get_or_create(username={BENCH_USERNAME!r})
if created:
    user.set_unusable_password()
    user.save(update_fields=["password"])
user.groups.add(groups[roles.AGENT])
_, token_key = api_token_issue(user=user)
print(json.dumps({{
    "token": token_key,
    "user_id": user.pk,
    "complaint_table": Complaint._meta.db_table,
    "idempotency_table": IdempotencyKey._meta.db_table,
}}))
"""


class BenchFailed(Exception):
    """The bench could not run, or the server lost or duplicated complaints."""


@dataclass(frozen=True)
class Setup:
    token: str
    user_id: int
    complaint_table: str
    idempotency_table: str


@dataclass
class Outcome:
    index: int
    status: int
    latency_s: float
    keyed: bool
    reference: str = ""
    error: str = ""


@dataclass
class Plan:
    """Every request of the run, built before the clock starts."""

    bodies: list[dict]
    keys: list[str | None]
    warmup: int
    outcomes: list[Outcome] = field(default_factory=list)


# -- environment and database ------------------------------------------------------------


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
        SECRET_KEY=f"bench-intake-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # Production defaults redirect plain HTTP to HTTPS; the bench speaks plain HTTP.
        SECURE_SSL_REDIRECT="0",
        REDRESS_DEMO="0",
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


def prepare_database(database_url: str, env: dict[str, str]) -> Setup:
    ensure_database(database_url)
    # Models ahead of their migrations would fail every insert with a 500 mid-run; say so
    # up front instead (the tree is shared and often mid-change).
    run_checked(
        [PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"],
        env,
        "the migrations check (models changed without a migration)",
    )
    run_checked([PYTHON, "manage.py", "migrate", "--no-input"], env, "migrate")
    output = run_checked([PYTHON, "-c", SETUP_SNIPPET], env, "bench user setup")
    return Setup(**json.loads(output.strip().splitlines()[-1]))


def database_counts(database_url: str, setup: Setup) -> tuple[int, int]:
    """(complaints, idempotency records of the bench user) as the database has them now."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        (complaints,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(setup.complaint_table))
        ).fetchone()
        (keys,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE owner_id = %s").format(
                sql.Identifier(setup.idempotency_table)
            ),
            [setup.user_id],
        ).fetchone()
    return complaints, keys


def references_stored(database_url: str, setup: Setup, references: list[str]) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        (found,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE reference = ANY(%s)").format(
                sql.Identifier(setup.complaint_table)
            ),
            [references],
        ).fetchone()
    return found


def postgres_backends(database_url: str) -> list[int]:
    """Server processes of PostgreSQL serving the bench database, except this connection."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [pid for (pid,) in rows]


class ConnectionSampler(threading.Thread):
    """Lists the bench database's PostgreSQL backends twice a second: peak and distinct.

    Each connection is a PostgreSQL process. More at the peak than the server has workers,
    or many more distinct backends than the peak (a connection per request), both show up
    here; the first runs the shared ``max_connections`` out for everyone on the machine.
    """

    INTERVAL_S = 0.5

    def __init__(self, database_url: str):
        super().__init__(daemon=True)
        self.database_url = database_url
        self.peak = 0
        self.seen: set[int] = set()
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.wait(self.INTERVAL_S):
            backends = postgres_backends(self.database_url)
            self.peak = max(self.peak, len(backends))
            self.seen.update(backends)

    def stop(self) -> None:
        self.finished.set()
        self.join(timeout=5)


# -- CPU accounting ----------------------------------------------------------------------


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


def cpu_snapshot(pids: list[int]) -> dict[int, float]:
    return {pid: used for pid in pids if (used := cpu_seconds(pid)) is not None}


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots; a process born in between counts from zero."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


# -- request bodies ----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceComplaint:
    subject: str
    description: str
    product: str
    channel: str
    jurisdiction: str
    occurred_on: str | None


def us_state(code: str) -> str:
    """The CFPB's two-letter state as the API names the region (``US-FL``), or none."""
    code = code.strip().upper()
    return f"US-{code}" if len(code) == 2 and code.isalpha() else ""


def load_cfpb(path: Path, limit: int) -> list[SourceComplaint]:
    """Subjects and narratives from the CFPB export; rows without a narrative get one."""
    found = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            issue = row.get("Issue", "").strip()
            if not issue:
                continue
            sub_issue = row.get("Sub-issue", "").strip()
            product = row.get("Product", "").strip()
            company = row.get("Company", "").strip()
            subject = f"{issue}: {sub_issue}" if sub_issue else issue
            narrative = row.get("Consumer complaint narrative", "").strip()
            if not narrative:
                narrative = (
                    f"I have a complaint about my {product.lower() or 'account'} with "
                    f"{company or 'your company'}. {issue}."
                    + (f" {sub_issue}." if sub_issue else "")
                    + " Please look into it and tell me what you will do."
                )
            found.append(
                SourceComplaint(
                    subject=subject[:SUBJECT_MAX],
                    description=narrative[:DESCRIPTION_MAX],
                    product=product[:PRODUCT_MAX],
                    channel=CHANNEL_BY_SUBMISSION.get(row.get("Submitted via", ""), "web"),
                    # US states as the API names them (US-FL); the history's dates are more
                    # than ten years old, which intake refuses as a likely typo.
                    jurisdiction=us_state(row.get("State", "")),
                    occurred_on=None,
                )
            )
            if len(found) >= limit:
                break
    return found


def generated_complaints(count: int, rng: random.Random) -> list[SourceComplaint]:
    made = []
    for index in range(count):
        issue, product = rng.choice(FALLBACK_ISSUES)
        made.append(
            SourceComplaint(
                subject=issue,
                description=(
                    f"{issue} on my {product.lower()} (case {index}). I contacted you "
                    f"{rng.randint(1, 5)} times and nobody called back. I want it put right."
                ),
                product=product,
                channel=rng.choice(["web", "email", "phone"]),
                jurisdiction=rng.choice(["US-CA", "US-NY", "US-TX", "US-FL", ""]),
                occurred_on=None,
            )
        )
    return made


def build_plan(total: int, warmup: int, clients: int, data: Path | None, seed: int) -> Plan:
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:12]
    sources: list[SourceComplaint] = []
    if data is not None and data.is_file():
        sources = load_cfpb(data, limit=total)
    print(f"bodies: {len(sources)} from {data}" if sources else "bodies: generated text")
    if not sources:
        sources = generated_complaints(min(total, 500), rng)
    # About three complaints per customer, so intake both creates customers and finds
    # existing ones, sometimes two requests racing for the same new customer.
    customers = [
        (
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            f"customer{number}.{run_id}@bench.example.com",
        )
        for number in range(max(1, total // 3))
    ]
    bodies, keys = [], []
    for index in range(total):
        source = sources[index % len(sources)]
        name, email = rng.choice(customers)
        body = {
            "subject": source.subject,
            "description": source.description,
            "channel": source.channel,
            "customer": {"name": name, "email": email},
            "product": source.product,
            "jurisdiction": source.jurisdiction,
        }
        if source.occurred_on:
            body["occurred_on"] = source.occurred_on
        bodies.append(body)
        # Requests are dealt to clients round-robin below, so odd clients send keys.
        keyed = (index % clients) % 2 == 1
        keys.append(f"bench-{run_id}-{index}" if keyed else None)
    return Plan(bodies=bodies, keys=keys, warmup=warmup)


# -- server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """The ASGI server under test, as child processes this bench owns and stops."""

    def __init__(self, kind: str, workers: int, env: dict[str, str], log_path: Path):
        self.kind = kind
        self.workers = workers
        self.env = env
        self.log_path = log_path
        self.processes: list[subprocess.Popen] = []
        self.listener: socket.socket | None = None
        self.port = 0
        self.command = ""

    def start(self) -> None:
        log = self.log_path.open("wb")
        if self.kind in UVICORN_INTERFACES:
            self.port = free_port()
            args = [
                str(BIN / "uvicorn"),
                *UVICORN_INTERFACES[self.kind],
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            self.command = " ".join(args[1:])
            self.processes.append(self._spawn(args, log))
            return
        # Daphne has no --workers: N processes accept on one listening socket made here.
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(1024)
        self.listener.set_inheritable(True)
        self.port = self.listener.getsockname()[1]
        fd = self.listener.fileno()
        args = [str(BIN / "daphne"), "--fd", str(fd), "-v", "0", "config.asgi:application"]
        self.command = f"{self.workers} x " + " ".join(args[1:])
        for _ in range(self.workers):
            self.processes.append(self._spawn(args, log, pass_fds=(fd,)))

    def _spawn(self, args: list[str], log, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
        # Own session: Ctrl-C in the terminal reaches the bench, which then stops the
        # server in order instead of every process dying at once mid-request.
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=pass_fds,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, token: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        headers = {"Authorization": f"Token {token}"}
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise BenchFailed(f"server exited with {process.returncode}\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                answer = httpx.get(
                    f"{self.base_url}/api/complaints/?page_size=1",
                    headers=headers,
                    timeout=5,
                    trust_env=False,
                )
                if answer.status_code == 200:
                    return
                raise BenchFailed(
                    f"server answered {answer.status_code} to the readiness check: "
                    f"{answer.text[:500]}\n{self.log_tail()}"
                )
            time.sleep(0.2)
        raise BenchFailed(f"server not ready after {SERVER_START_TIMEOUT_S} s\n{self.log_tail()}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The process group is the one this bench created for it (start_new_session):
            # it holds the server and any worker it forked that outlived a hard exit.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self.listener is not None:
            self.listener.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


# -- load --------------------------------------------------------------------------------


async def send(
    client: httpx.AsyncClient, plan: Plan, index: int, token: str, outcomes: list[Outcome]
) -> Outcome:
    headers = {"Authorization": f"Token {token}"}
    key = plan.keys[index]
    if key:
        headers["Idempotency-Key"] = key
    started = time.perf_counter()
    try:
        answer = await client.post("/api/complaints/", json=plan.bodies[index], headers=headers)
        latency = time.perf_counter() - started
        outcome = Outcome(index, answer.status_code, latency, keyed=bool(key))
        if answer.status_code in (200, 201):
            outcome.reference = answer.json().get("reference", "")
        else:
            # One line of the body is enough to tell a 500 page from a validation error.
            outcome.error = " ".join(answer.text.split())[:300]
    except httpx.HTTPError as error:
        outcome = Outcome(
            index, 0, time.perf_counter() - started, keyed=bool(key), error=repr(error)
        )
    outcomes.append(outcome)
    return outcome


async def drive(
    base_url: str, token: str, plan: Plan, indexes: range, clients: int, deadline_s: float
) -> tuple[list[Outcome], float]:
    """Closed loop: client c sends requests c, c + C, c + 2C, ... one after another."""
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:

        async def one_client(number: int) -> None:
            for index in indexes[number::clients]:
                await send(client, plan, index, token, outcomes)

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(one_client(n) for n in range(clients))), timeout=deadline_s
        )
        wall = time.perf_counter() - started
    return outcomes, wall


async def replay(base_url: str, token: str, plan: Plan, originals: list[Outcome]) -> list[str]:
    """Send keyed requests again; each must answer 200 with the complaint it first made."""
    problems = []
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:
        for original in originals:
            answer = await client.post(
                "/api/complaints/",
                json=plan.bodies[original.index],
                headers={
                    "Authorization": f"Token {token}",
                    "Idempotency-Key": plan.keys[original.index],
                },
            )
            reference = answer.json().get("reference") if answer.status_code == 200 else None
            if (
                answer.status_code != 200
                or answer.headers.get("Idempotent-Replayed") != "true"
                or reference != original.reference
            ):
                problems.append(
                    f"replay of request {original.index} answered {answer.status_code} "
                    f"{reference!r} (first answer {original.reference!r})"
                )
    return problems


# -- report ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def verify(
    outcomes: list[Outcome], expected: int, before: tuple[int, int], after: tuple[int, int]
) -> list[str]:
    problems = []
    statuses = Counter(outcome.status for outcome in outcomes)
    if len(outcomes) != expected:
        problems.append(f"{len(outcomes)} answers for {expected} requests")
    if statuses != Counter({201: expected}):
        problems.append(f"statuses {dict(statuses)}, expected {{201: {expected}}}")
        for outcome in [o for o in outcomes if o.status != 201][:5]:
            problems.append(f"  request {outcome.index}: {outcome.status} {outcome.error}")
    references = [outcome.reference for outcome in outcomes if outcome.reference]
    if len(set(references)) != len(references):
        problems.append(f"{len(references) - len(set(references))} duplicate references")
    new_complaints = after[0] - before[0]
    if new_complaints != expected:
        problems.append(f"database gained {new_complaints} complaints for {expected} requests")
    keyed = sum(outcome.keyed for outcome in outcomes)
    new_keys = after[1] - before[1]
    if new_keys != keyed:
        problems.append(f"database gained {new_keys} idempotency records for {keyed} keyed")
    return problems


@dataclass
class Measurement:
    outcomes: list[Outcome]
    wall_s: float
    server_cpu_s: float
    postgres_cpu_s: float
    client_cpu_s: float
    load_before: float
    load_after: float
    peak_connections: int
    distinct_backends: int
    # Backends that exited before the end: their CPU is not in postgres_cpu_s.
    backends_gone: int


def measure(server: Server, setup: Setup, plan: Plan, args, database_url: str) -> Measurement:
    """The timed run, with the CPU each side used: the server's processes, the PostgreSQL
    backends serving them, and this load generator (all share the machine)."""
    roots = [process.pid for process in server.processes]
    server_before = cpu_snapshot(descendants(roots))
    postgres_before = cpu_snapshot(postgres_backends(database_url))
    client_before = time.process_time()
    load_before = os.getloadavg()[0]
    sampler = ConnectionSampler(database_url)
    sampler.start()
    measured = range(plan.warmup, len(plan.bodies))
    try:
        outcomes, wall = asyncio.run(
            drive(server.base_url, setup.token, plan, measured, args.clients, args.timeout)
        )
    finally:
        sampler.stop()
    client_cpu = time.process_time() - client_before
    server_after = cpu_snapshot(descendants(roots))
    postgres_after = cpu_snapshot(postgres_backends(database_url))
    seen = sampler.seen | set(postgres_before) | set(postgres_after)
    return Measurement(
        outcomes=outcomes,
        wall_s=wall,
        server_cpu_s=cpu_spent(server_before, server_after),
        postgres_cpu_s=cpu_spent(postgres_before, postgres_after),
        client_cpu_s=client_cpu,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        peak_connections=sampler.peak,
        distinct_backends=len(seen),
        backends_gone=len(seen - set(postgres_after)),
    )


def print_report(args, server: Server, run: Measurement) -> None:
    count = len(run.outcomes)
    latencies = sorted(outcome.latency_s * 1000 for outcome in run.outcomes)
    keyed = sum(outcome.keyed for outcome in run.outcomes)
    postgres_cpu = f"{run.postgres_cpu_s / count * 1000:.1f} ms"
    if run.backends_gone:
        postgres_cpu = (
            f">= {postgres_cpu} ({run.backends_gone} backends exited mid-run, not counted)"
        )
    rows = [
        ("server", f"{server.kind} ({server.command})"),
        ("server workers", server.workers),
        ("clients", args.clients),
        ("requests", f"{count} ({keyed} with Idempotency-Key)"),
        ("wall time", f"{run.wall_s:.2f} s"),
        ("complaints/second", f"{count / run.wall_s:.1f}"),
        ("latency p50", f"{percentile(latencies, 0.50):.1f} ms"),
        ("latency p95", f"{percentile(latencies, 0.95):.1f} ms"),
        ("latency p99", f"{percentile(latencies, 0.99):.1f} ms"),
        ("latency max", f"{latencies[-1]:.1f} ms"),
        ("server CPU/request", f"{run.server_cpu_s / count * 1000:.1f} ms"),
        ("PostgreSQL CPU/request", postgres_cpu),
        (
            "PostgreSQL connections",
            f"{run.peak_connections} at peak, {run.distinct_backends} distinct backends",
        ),
        ("bench client CPU/request", f"{run.client_cpu_s / count * 1000:.1f} ms"),
        (
            "CPUs / load avg (1 min)",
            f"{os.cpu_count()} / {run.load_before:.2f} -> {run.load_after:.2f}",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def run_bench(args, setup: Setup, plan: Plan, server: Server, database_url: str) -> list[str]:
    """Warm up, measure, verify; returns what went wrong (nothing when all is well)."""
    server.start()
    server.wait_ready(setup.token)
    if plan.warmup:
        warm, _ = asyncio.run(
            drive(
                server.base_url, setup.token, plan, range(plan.warmup), args.clients, args.timeout
            )
        )
        failed = [outcome for outcome in warm if outcome.status != 201]
        if failed:
            raise BenchFailed(
                f"{len(failed)} of {len(warm)} warm-up requests failed, first: "
                f"{failed[0].status} {failed[0].error}\n{server.log_tail()}"
            )
    before = database_counts(database_url, setup)
    run = measure(server, setup, plan, args, database_url)
    after = database_counts(database_url, setup)
    problems = verify(run.outcomes, args.requests, before, after)
    references = [outcome.reference for outcome in run.outcomes if outcome.reference]
    stored = references_stored(database_url, setup, references)
    if stored != len(references):
        problems.append(f"only {stored} of {len(references)} answered references are stored")
    keyed = [o for o in run.outcomes if o.keyed and o.status == 201][:REPLAY_SAMPLE]
    problems += asyncio.run(replay(server.base_url, setup.token, plan, keyed))
    if database_counts(database_url, setup) != after:
        problems.append("replayed requests changed the database")
    print_report(args, server, run)
    print(f"idempotent replays checked: {len(keyed)}")
    if problems:
        print(server.log_tail())
    return problems


# -- main --------------------------------------------------------------------------------


def bounded(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=bounded(1, MAX_CLIENTS), default=16)
    parser.add_argument("--requests", type=bounded(1, MAX_REQUESTS), default=2000)
    parser.add_argument("--warmup", type=bounded(0, MAX_REQUESTS), default=100)
    parser.add_argument(
        "--server", choices=[*UVICORN_INTERFACES, "daphne"], default="uvicorn", help=SERVER_HELP
    )
    parser.add_argument("--workers", type=bounded(1, MAX_WORKERS), default=2)
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="CFPB complaints CSV for subjects and narratives (generated text if missing)",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument(
        "--timeout", type=bounded(10, 3600), default=600, help="give up after this many seconds"
    )
    parser.add_argument("--seed", type=int, default=20240601)
    return parser.parse_args(argv)


def stop_on_sigterm(signum, frame) -> None:
    # Treat SIGTERM as Ctrl-C: asyncio.run then cancels the clients cleanly, and the
    # finally blocks stop the server.
    os.kill(os.getpid(), signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    require_loopback(database_url, "the database URL")
    require_loopback(redis_url, "the Redis URL")
    env = bench_environment(database_url, redis_url)
    setup = prepare_database(database_url, env)
    plan = build_plan(args.warmup + args.requests, args.warmup, args.clients, args.data, args.seed)
    with tempfile.TemporaryDirectory(prefix="redress-bench-") as scratch:
        server = Server(args.server, args.workers, env, Path(scratch) / "server.log")
        try:
            problems = run_bench(args, setup, plan, server, database_url)
        except TimeoutError:
            raise BenchFailed(f"the run did not finish within {args.timeout} s") from None
        finally:
            server.stop()
    if problems:
        print("\nFAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("verified: every response 201, one new complaint per request, none lost or doubled")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"bench failed: {failure}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; server stopped", file=sys.stderr)
        sys.exit(130)
