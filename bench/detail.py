"""Complaint detail under load: GET /api/complaints/<ref>/ against the real ASGI server.

    .venv/bin/python bench/detail.py [--clients 16] [--requests 2000] [--events 50] [--page]

What it does, in order:

1. Sets intake.py's production-like environment on its own database and Redis db, creates
   and migrates the database, and collects the static files the desk's pages name (debug
   off, the pages need the manifest).
2. Seeds ``--complaints`` complaints with ``--events`` timeline events each (replies and
   internal notes, through the API as hot_paths.py makes them), reusing those a previous
   run left, and counts the SQL statements one API detail (and one desk page) sends,
   with Django's test client in that set-up process (see "queries" below).
3. Starts uvicorn (config.asgi, ``--workers``) as intake.py does and warms it up.
4. Sends ``--requests`` GETs of the API detail, the complaints taken in turn, from
   ``--clients`` closed-loop clients; with ``--page`` then the same for the desk's complaint
   page with a signed-in supervisor's session.
5. Checks every answer is 200 and names the complaint asked for (exits 1 if not), and
   prints throughput, latency, the server's CPU per request (/proc), what PostgreSQL spent
   (pg_stat_database) and the connections.

Queries per request: PostgreSQL here has no pg_stat_statements (it must be preloaded at
server start), and pg_stat_database counts transactions, not statements. So the statements
are counted where they are sent: one request through the whole stack in Django's test client
(``CaptureQueriesContext``, as hot_paths.py and the query-budget tests do), without
transaction control. The request path is the server's, so the count is the same; what it
leaves out is the connection's own start (the server opens one per request,
``CONN_MAX_AGE=0``), which the "PG sessions" figure shows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Call, measure_load, print_rows  # noqa: E402
from bench.intake import (  # noqa: E402
    PYTHON,
    BenchFailed,
    Server,
    bench_environment,
    bounded,
    prepare_database,
    require_loopback,
    run_checked,
    stop_on_sigterm,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_detail"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
STATIC_ROOT = ROOT / "var" / "bench" / "redress-static"
DETAIL_SUBJECT = "Detail bench: charged twice for one order"

# Runs in the bench environment: makes (or finds) the complaints, signs the supervisor in,
# counts the statements of one request of each kind, prints one JSON line.
SEED_SNIPPET = """
import json, sys, uuid
import django

django.setup()
from django.test import override_settings
from bench.hot_paths import TEAM, TRANSITION_BODIES, Api, ensure_agent, measure
from config.celery import app
from recovery.models import Complaint

complaints, events, subject = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# Outbox rows are written as in production; the set-up does not ring the broker.
app.conf.broker_url = "memory://"
agent, token = ensure_agent()
api = Api(token)
storages = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
with override_settings(STORAGES=storages):
    ready = list(
        Complaint.objects.filter(subject=subject, team__slug=TEAM)
        .annotate(n=django.db.models.Count("events"))
        .filter(n=events)
        .order_by("pk")
        .values_list("reference", flat=True)[:complaints]
    )
    while len(ready) < complaints:
        answer = api.client.post(
            "/api/complaints/",
            {
                "subject": subject,
                "description": "I was charged twice for the same order and nobody refunded me.",
                "channel": "web",
                "customer": {"name": "Detail Bench", "email": f"detail{len(ready)}@bench.example"},
                "team": TEAM,
            },
            content_type="application/json",
        )
        reference = answer.json()["reference"]
        api.transition(reference, TRANSITION_BODIES["acknowledge"])
        while Complaint.objects.get(reference=reference).events.count() < events:
            api.post(
                f"/api/complaints/{reference}/messages/",
                {"body": "A note about the refund.", "internal": True},
                "message",
            )
        ready.append(reference)
    desk = Api(token).client
    desk.force_login(agent)
    first = ready[0]
    queries = {
        "api": measure("detail", lambda: first, lambda ref: api.client.get(
            f"/api/complaints/{ref}/"), 5, False)[4],
        "page": measure("page", lambda: first, lambda ref: desk.get(
            f"/desk/complaints/{ref}/"), 5, False)[4],
        # For compare.py: a create without an Idempotency-Key, and the team's queue.
        "create": measure("create", lambda: uuid.uuid4().hex, lambda tag: api.client.post(
            "/api/complaints/",
            {
                "subject": "Charged twice",
                "description": "I was charged twice for the same order.",
                "channel": "web",
                "customer": {"name": "Bench Customer", "email": f"{tag}@bench.example"},
                "team": TEAM,
            },
            content_type="application/json",
        ), 5, False)[4],
        "queue": measure("queue", lambda: None, lambda _: desk.get("/desk/team/"), 5, False)[4],
    }
    event_counts = sorted(set(
        Complaint.objects.get(reference=r).events.count() for r in ready
    ))
from django.conf import settings
print(json.dumps({
    "token": token,
    "session": [settings.SESSION_COOKIE_NAME, desk.cookies[settings.SESSION_COOKIE_NAME].value],
    "references": ready,
    "events": event_counts,
    "queries": queries,
}))
"""


def seed(env: dict[str, str], complaints: int, events: int) -> dict:
    output = run_checked(
        [PYTHON, "-c", SEED_SNIPPET, str(complaints), str(events), DETAIL_SUBJECT],
        env,
        "seeding the complaints",
    )
    return json.loads(output.strip().splitlines()[-1])


def collect_static(env: dict[str, str]) -> None:
    run_checked(
        [PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0"], env, "collectstatic"
    )


def api_calls(seeded: dict, count: int) -> list[Call]:
    headers = {"Authorization": f"Token {seeded['token']}"}
    references = seeded["references"]

    def names(reference: str):
        return lambda body: (
            "" if body.get("reference") == reference else f"answered {body.get('reference')!r}"
        )

    return [
        Call("GET", f"/api/complaints/{ref}/", headers, check=names(ref))
        for ref in (references[i % len(references)] for i in range(count))
    ]


def page_calls(seeded: dict, count: int) -> list[Call]:
    name, value = seeded["session"]
    headers = {"Cookie": f"{name}={value}"}
    references = seeded["references"]

    def names(reference: str):
        # The page's heading names the complaint; a sign-in page would not.
        pattern = re.compile(re.escape(reference))
        return lambda text: "" if pattern.search(text) else "the page does not name it"

    return [
        Call("GET", f"/desk/complaints/{ref}/", headers, check=names(ref))
        for ref in (references[i % len(references)] for i in range(count))
    ]


def postgres_cpu_text(run) -> str:
    """The backends' CPU from /proc, when it can be had: a server that opens a connection
    per request (``CONN_MAX_AGE=0``) leaves a backend per request, gone before it is read."""
    if run.backends_gone:
        return (
            f"not measurable: {run.backends_gone} backends exited mid-run "
            "(a connection per request); see the active time"
        )
    return f"{run.postgres_cpu_s / run.count * 1000:.1f} ms"


def report(title: str, queries: int, run, server: Server) -> None:
    figures = run.figures()
    postgres_cpu = postgres_cpu_text(run)
    print(f"\n== {title}")
    print_rows(
        [
            ("requests", run.count),
            ("wall time", f"{run.wall_s:.2f} s"),
            ("requests/second", f"{figures['requests/s']:.1f}"),
            (
                "latency p50 / p95 / p99",
                f"{figures['p50 ms']:.1f} / {figures['p95 ms']:.1f} / {figures['p99 ms']:.1f} ms",
            ),
            ("server CPU/request", f"{figures['server CPU ms']:.1f} ms"),
            ("SQL statements/request", f"{queries}  (one request, Django's test client)"),
            ("PostgreSQL active/request", f"{figures['PG active ms']:.1f} ms (pg_stat_database)"),
            ("PostgreSQL CPU/request", postgres_cpu),
            (
                "PostgreSQL sessions",
                f"{figures['PG sessions']:.2f} opened a request, {run.peak_connections} at peak",
            ),
            ("PostgreSQL transactions/req", f"{figures['PG xacts']:.2f}"),
            ("bench client CPU/request", f"{run.client_cpu_s / run.count * 1000:.1f} ms"),
            ("load avg (1 min)", f"{run.load_before:.2f} -> {run.load_after:.2f}"),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=bounded(1, 256), default=16)
    parser.add_argument("--requests", type=bounded(1, 100_000), default=2000)
    parser.add_argument("--warmup", type=bounded(0, 10_000), default=100)
    parser.add_argument("--workers", type=bounded(1, 16), default=2)
    parser.add_argument("--complaints", type=bounded(1, 1000), default=20)
    parser.add_argument("--events", type=bounded(3, 1000), default=50)
    parser.add_argument(
        "--page", action="store_true", help="also the desk's complaint page, signed in"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DETAIL_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_DETAIL_REDIS_URL"))
    parser.add_argument("--timeout", type=bounded(10, 3600), default=600)
    return parser.parse_args(argv)


def redress_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """intake.py's environment, plus the test client's host and collected static files."""
    env = bench_environment(database_url, redis_url)
    env.update(ALLOWED_HOSTS="127.0.0.1,testserver", STATIC_ROOT=str(STATIC_ROOT))
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    require_loopback(database_url, "the database URL")
    require_loopback(redis_url, "the Redis URL")
    env = redress_environment(database_url, redis_url)
    prepare_database(database_url, env)
    if args.page:
        collect_static(env)
    seeded = seed(env, args.complaints, args.events)
    print(
        f"complaints: {len(seeded['references'])} with {seeded['events']} timeline events; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    kinds = [("API detail, GET /api/complaints/<ref>/", api_calls, seeded["queries"]["api"])]
    if args.page:
        kinds.append(
            ("desk page, GET /desk/complaints/<ref>/", page_calls, seeded["queries"]["page"])
        )
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="redress-bench-") as scratch:
        server = Server("uvicorn", args.workers, env, Path(scratch) / "server.log")
        try:
            server.start()
            server.wait_ready(seeded["token"])
            print(f"server: {server.command}; {args.clients} clients")
            for title, make_calls, queries in kinds:
                warm = (
                    measure_load(
                        [p.pid for p in server.processes],
                        database_url,
                        server.base_url,
                        make_calls(seeded, args.warmup),
                        args.clients,
                        args.timeout,
                    )
                    if args.warmup
                    else None
                )
                if warm is not None and warm.problems(args.warmup):
                    raise BenchFailed(
                        f"warm-up of the {title} failed: {warm.problems(args.warmup)}\n"
                        + server.log_tail()
                    )
                run = measure_load(
                    [p.pid for p in server.processes],
                    database_url,
                    server.base_url,
                    make_calls(seeded, args.requests),
                    args.clients,
                    args.timeout,
                )
                report(title, queries, run, server)
                problems += [f"{title}: {p}" for p in run.problems(args.requests)]
        except TimeoutError:
            raise BenchFailed(f"the run did not finish within {args.timeout} s") from None
        finally:
            if problems:
                print(server.log_tail())
            server.stop()
    if problems:
        print("\nFAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("\nverified: every response 200 and naming the complaint asked for")
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
