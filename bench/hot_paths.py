"""The cost of one create, one detail and one transition: queries and server CPU per request.

    .venv/bin/python bench/hot_paths.py [--requests 50] [--events 50] [--show-queries OP]

Unlike ``intake.py`` it starts no server and sends no concurrent load: Django's test client
sends each request through the whole request path in this process (middleware, token
authentication, view, service, serializer or template), debug off, against PostgreSQL
(``redress_bench_hot``, or ``--database-url`` / ``BENCH_HOT_DATABASE_URL``). So the figures
are what one request costs the server, without the network or queueing, and they can be
compared between two versions of the code on a busy machine.

What it does:

1. Sets a production-like environment, creates the database if missing and migrates it.
2. Makes a supervisor of a bench team with an API token (a supervisor may make every
   transition, reopen included); the default SLA policy's clocks apply.
3. Measures, ``--requests`` times each after a warm-up:
   - ``create``: ``POST /api/complaints/`` by the supervisor, a new customer each time, an
     ``Idempotency-Key`` on every request;
   - ``detail (API)`` and ``detail (desk page)``: ``GET`` of one complaint with ``--events``
     timeline events (internal notes and replies), clocks and a root cause;
   - each transition in turn through ``POST /api/complaints/<ref>/transitions/``: acknowledge,
     resolve, close the loop, reopen, withdraw, each on complaints made for it.
4. Prints per operation the median and p90 wall time, this process's CPU per request (Django,
   the driver, the JSON or the template) and the SQL statements one request sent (without
   transaction control), against the targets of docs/operations.md. ``--show-queries create`` (or ``detail``, ``acknowledge``…)
   also prints the SQL of one request.

Exits 1 if a request does not answer as it should.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import BenchFailed, ensure_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_hot"
# Production mode needs a Redis URL in the settings; the outbox's fast path is cut off below.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
# A supervisor of the bench team: the one role that may make every transition (reopen too).
AGENT = "bench_hot_supervisor"
TEAM = "bench-hot"
WARMUP = 5
# Not counted, as in tests/recovery/test_query_budgets.py.
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "BEGIN", "COMMIT")
# The query budgets (targets) of docs/operations.md.
BUDGETS = {"create": 12, "detail": 8, "transition": 14}


def configure_environment(database_url: str, redis_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        SECRET_KEY=f"bench-hot-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        REDRESS_DEMO="0",
        LOG_LEVEL="ERROR",
    )


def ensure_agent():
    from django.contrib.auth import get_user_model

    from recovery import roles
    from recovery.models import Team
    from recovery.services.api_tokens import api_token_issue

    groups = roles.ensure_role_groups()
    team, _ = Team.objects.get_or_create(slug=TEAM, defaults={"name": "Bench hot paths"})
    agent, _ = get_user_model().objects.get_or_create(username=AGENT)
    agent.groups.add(groups[roles.SUPERVISOR])
    team.members.add(agent)
    return agent, api_token_issue(user=agent)[1]


def ensure_root_cause() -> str:
    from recovery.models import RootCause

    RootCause.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    return "bench"


def intake_body(number: int) -> dict:
    tag = uuid.uuid4().hex[:12]
    return {
        "subject": f"Charged twice for order {number}",
        "description": "I was charged twice for the same order and nobody has refunded me.",
        "channel": "web",
        "customer": {"name": f"Bench customer {tag}", "email": f"{tag}@bench.example"},
        "team": TEAM,
    }


class Api:
    def __init__(self, token: str):
        from django.test import Client

        self.client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def create(self, number: int) -> str:
        answer = self.client.post(
            "/api/complaints/",
            intake_body(number),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        expect(answer, 201, "create")
        return answer.json()["reference"]

    def post(self, path: str, body: dict, what: str) -> None:
        expect(self.client.post(path, body, content_type="application/json"), None, what)

    def transition(self, reference: str, body: dict) -> None:
        # The acknowledgement must quote the reference.
        body = {key: value.format(reference=reference) for key, value in body.items()}
        if "root_causes" in body:
            body["root_causes"] = [body["root_causes"]]
        self.post(f"/api/complaints/{reference}/transitions/", body, body["transition"])


def expect(answer, status: int | None, what: str) -> None:
    if (status is None and answer.status_code >= 300) or (
        status is not None and answer.status_code != status
    ):
        raise BenchFailed(f"{what} answered {answer.status_code}: {answer.content[:300]!r}")


TRANSITION_BODIES = {
    "acknowledge": {
        "transition": "acknowledge",
        "message": "We have your complaint {reference} and are on it.",
        "next_steps": "A look at the charges.",
    },
    "resolve": {
        "transition": "resolve",
        "outcome": "upheld",
        "summary": "Refunded the second charge.",
        "root_causes": "bench",
    },
    "close_loop": {
        "transition": "close_loop",
        "what_we_found": "A double charge.",
        "what_we_did": "Refunded it.",
        "what_will_change": "A check before charging.",
    },
    "reopen": {"transition": "reopen", "reason": "The customer was charged again."},
    "withdraw": {"transition": "withdraw", "reason": "The customer withdrew it."},
}
# The transitions a complaint needs behind it before each one can be measured.
BEFORE = {
    "acknowledge": [],
    "resolve": ["acknowledge"],
    "close_loop": ["acknowledge", "resolve"],
    "reopen": ["acknowledge", "resolve"],
    "withdraw": [],
}


def complaint_with_events(api: Api, events: int) -> str:
    reference = api.create(0)
    api.transition(reference, TRANSITION_BODIES["acknowledge"])
    for number in range(max(0, events - 3)):
        api.post(
            f"/api/complaints/{reference}/messages/",
            {"body": f"Note {number} about the refund.", "internal": number % 2 == 0},
            "message",
        )
    return reference


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(name: str, prepare, send, requests: int, show: bool) -> tuple:
    """(name, p50 ms, p90 ms, CPU ms per request, queries per request) of ``send(prepared)``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        send(prepare())
    prepared = [prepare() for _ in range(requests)]
    timings, counts = [], []
    cpu = 0.0
    for index, item in enumerate(prepared):
        with CaptureQueriesContext(connection) as queries:
            cpu_started, started = time.process_time(), time.perf_counter()
            send(item)
            timings.append((time.perf_counter() - started) * 1000)
            cpu += time.process_time() - cpu_started
        counts.append(
            sum(not q["sql"].startswith(TRANSACTION_CONTROL) for q in queries.captured_queries)
        )
        if show and index == 0:
            print(f"-- the SQL of one {name}:")
            for number, query in enumerate(queries.captured_queries, 1):
                print(f"{number:3d}. {query['sql'][:400]}")
    return (
        name,
        statistics.median(timings),
        percentile(timings, 0.9),
        cpu * 1000 / requests,
        max(counts),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--events", type=int, default=50, help="timeline events of the detail")
    parser.add_argument("--show-queries", default="", help="create, detail, acknowledge, …")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_HOT_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_HOT_REDIS_URL", DEFAULT_REDIS_URL)
    )
    args = parser.parse_args()
    if not 5 <= args.requests <= 5_000 or not 3 <= args.events <= 1_000:
        parser.error("need 5 <= --requests <= 5,000 and 3 <= --events <= 1,000")

    configure_environment(args.database_url, args.redis_url)
    ensure_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import override_settings

    from config.celery import app

    call_command("migrate", verbosity=0)
    # The outbox rows are written as in production; their delivery is not this bench's cost.
    app.conf.broker_url = "memory://"
    print(
        "load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} CPUs".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    agent, token = ensure_agent()
    ensure_root_cause()
    api = Api(token)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    show = args.show_queries
    results = []
    with override_settings(STORAGES=storages):
        numbers = iter(range(1, 10**9))
        results.append(
            measure(
                "create",
                lambda: next(numbers),
                api.create,
                args.requests,
                show == "create",
            )
        )
        detailed = complaint_with_events(api, args.events)
        results.append(
            measure(
                "detail (API)",
                lambda: detailed,
                lambda ref: expect(api.client.get(f"/api/complaints/{ref}/"), 200, "detail"),
                args.requests,
                show == "detail",
            )
        )
        desk = Api(token).client
        desk.force_login(agent)
        results.append(
            measure(
                "detail (desk page)",
                lambda: detailed,
                lambda ref: expect(desk.get(f"/desk/complaints/{ref}/"), 200, "desk page"),
                args.requests,
                show == "page",
            )
        )
        for name, before in BEFORE.items():

            def prepare(before=before):
                reference = api.create(0)
                for step in before:
                    api.transition(reference, TRANSITION_BODIES[step])
                return reference

            results.append(
                measure(
                    name,
                    prepare,
                    lambda ref, name=name: api.transition(ref, TRANSITION_BODIES[name]),
                    args.requests,
                    show == name,
                )
            )
    print(
        f"{'operation':20} {'requests':>8} {'p50 ms':>7} {'p90 ms':>7} {'CPU ms':>7} "
        f"{'queries':>7} {'budget':>6}"
    )
    for name, p50, p90, cpu, queries in results:
        kind = name.split()[0] if name.startswith(("create", "detail")) else "transition"
        budget = BUDGETS[kind]
        mark = "" if queries <= budget else "  over"
        print(
            f"{name:20} {args.requests:8d} {p50:7.1f} {p90:7.1f} {cpu:7.1f} "
            f"{queries:7d} {budget:6d}{mark}"
        )
    print(
        "CPU ms: this process per request (Django, the database driver, JSON or template); "
        "queries: the most statements one request sent, without BEGIN, COMMIT and savepoints"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
