"""Redress beside django-helpdesk: the same paths, server, clients and PostgreSQL, in turns.

    .venv/bin/python bench/compare.py [--requests 200] [--rounds 3] [--clients 16] [--workers 2]

What it does, in order:

1. Installs django-helpdesk (``--helpdesk-version``, the latest 2.x release when written)
   from PyPI into a virtualenv of its own, ``var/bench/helpdesk-venv``, with the Django,
   uvicorn and psycopg versions Redress runs (reused when it already holds them). Exits 2
   with a clear message when the package index cannot be reached.
2. Writes a minimal Django project for it (``var/bench/helpdesk-project``: the apps its
   installation guide lists, teams mode off, the REST API on with token authentication,
   debug off, connections from a pool per process as Redress has them, mail to the dummy
   backend), on PostgreSQL
   database ``<Redress's database>_helpdesk``; migrates it, makes a staff user with a token
   and a queue, and seeds as many tickets with ``--events`` follow-ups as Redress gets
   complaints with timeline events (detail.py's seeding).
3. Starts both under uvicorn with the same ``--workers``: Redress's ``config.asgi`` (as
   intake.py does), django-helpdesk's ``django.core.asgi``.
4. Warms each path up, then runs ``--rounds`` rounds; in each, both systems take every path
   in turn, the order of the systems swapped from round to round (A B, B A, A B…), each
   path ``--requests`` requests from ``--clients`` closed-loop clients:
   - create: ``POST /api/complaints/`` (token) against ``POST /api/tickets/`` (token), the
     same subjects, narratives and addresses from the CFPB sample (intake.py's bodies);
   - detail: ``GET /api/complaints/<ref>/`` against ``GET /api/tickets/<id>/``, records with
     ``--events`` timeline events or follow-ups;
   - queue: the desk's team queue ``/desk/team/`` against the agent's ticket list, which
     takes two requests in a browser, the page ``/tickets/`` and its rows
     ``/datatables_ticket_list/<query>`` (sent one after the other, timed as one);
   - agent page: ``/desk/complaints/<ref>/`` against ``/tickets/<id>/``, signed in.
5. Verifies every answer (201 with a new reference or id, 200 naming what was asked for),
   and that each database gained exactly one row per create; exits 1 if not.
6. Prints, per path, both systems' median figures over the rounds and their ratios.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Call, LoadRun, measure_load  # noqa: E402
from bench.detail import (  # noqa: E402
    DETAIL_SUBJECT,
    api_calls,
    collect_static,
    page_calls,
    redress_environment,
    seed,
)
from bench.hot_paths import TEAM  # noqa: E402
from bench.intake import (  # noqa: E402
    DEFAULT_DATA,
    HOST,
    SERVER_START_TIMEOUT_S,
    BenchFailed,
    Server,
    bounded,
    build_plan,
    ensure_database,
    free_port,
    prepare_database,
    require_loopback,
    stop_on_sigterm,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_compare"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
# The latest 2.x release on PyPI when this was written (2.6.1, 2026); --helpdesk-version
# picks another.
HELPDESK_VERSION = "2.6.1"
DEFAULT_INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
VENV = ROOT / "var" / "bench" / "helpdesk-venv"
PROJECT = ROOT / "var" / "bench" / "helpdesk-project"
# Installing from PyPI: the wheels are small, but a cold resolver on a slow link is slow.
PIP_TIMEOUT_S = 600
# Redress's queue page shows 50 complaints (desk.desk.QUEUE_PAGE_SIZE); django-helpdesk's
# list asks for 25 by default: its rows are asked for 50 at a time here too.
QUEUE_ROWS = 50
PATHS = ["create", "detail", "queue", "agent page"]
# The figures of the comparison table, and whether more of it is better.
FIGURES = [
    ("requests/s", True),
    ("p50 ms", False),
    ("p95 ms", False),
    ("p99 ms", False),
    ("server CPU ms", False),
    ("SQL statements", False),
    ("PG active ms", False),
    ("PG xacts", False),
    ("PG sessions", False),
]

# The helpdesk's project: what its installation guide lists (docs/install.rst), without
# pinax-teams (teams mode off, docs/teams.rst), with its REST API on (docs/api.rst: the
# setting's older name and the newer one) and token authentication, which DRF offers and
# the API's guide lets one choose. Basic authentication would hash the password on every
# request, which is no fair measure of either system.
HELPDESK_SETTINGS = '''"""django-helpdesk for the Redress comparison bench (bench/compare.py writes this)."""

SECRET_KEY = {secret_key!r}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "django.contrib.admin",
    "django.contrib.humanize",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "helpdesk_bench.urls"
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        }},
    }}
]
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": {name!r},
        "USER": {user!r},
        "HOST": {host!r},
        "PORT": {port!r},
        # As Redress's settings have it: connections from a pool per process.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {{"pool": {{"min_size": 1, "max_size": 20, "timeout": 10}}}},
    }}
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SITE_ID = 1
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
LOGIN_URL = "/login/"
# The mail it sends on a new ticket is rendered in the request, then dropped here.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
LOGGING = {{"version": 1, "root": {{"level": "WARNING"}}}}
HELPDESK_TEAMS_MODE_ENABLED = False
HELPDESK_ACTIVATE_API_ENDPOINT = True
HELPDESK_API_ENABLED = True
REST_FRAMEWORK = {{
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ]
}}
'''
HELPDESK_URLS = """from django.urls import include, path

urlpatterns = [path("", include("helpdesk.urls", namespace="helpdesk"))]
"""
HELPDESK_ASGI = """import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk_bench.settings")
application = get_asgi_application()
"""

# Runs in the helpdesk's virtualenv and project: the staff user, token, queue and tickets
# with follow-ups (reused when a run left them), the statements one request of each path
# sends (test client, as detail.py counts Redress's), one JSON line.
HELPDESK_SETUP = """
import json, re, sys, uuid
import django

django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from helpdesk.models import FollowUp, Queue, Ticket

tickets, events, subject, rows = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "BEGIN", "COMMIT")
agent, _ = get_user_model().objects.get_or_create(
    username="bench_agent", defaults={"is_staff": True, "email": "agent@bench.example"}
)
queue, _ = Queue.objects.get_or_create(slug="bench", defaults={"title": "Bench"})
token, _ = Token.objects.get_or_create(user=agent)
ready = list(
    Ticket.objects.filter(title=subject)
    .annotate(n=Count("followup"))
    .filter(n=events)
    .order_by("pk")
    .values_list("pk", flat=True)[:tickets]
)
while len(ready) < tickets:
    ticket = Ticket.objects.create(
        queue=queue, title=subject, submitter_email=f"detail{len(ready)}@bench.example",
        description="I was charged twice for the same order and nobody refunded me.",
    )
    FollowUp.objects.bulk_create(
        FollowUp(ticket=ticket, title="Comment", comment="A note about the refund.",
                 public=False, user=agent)
        for _ in range(events)
    )
    ready.append(ticket.pk)
api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
desk = Client()
desk.force_login(agent)
page = desk.get("/tickets/")
rows_path = "/" + re.search(rb"datatables_ticket_list/[A-Za-z0-9_=-]+", page.content).group(
    0).decode() + f"?length={rows}"


def count(send):
    for _ in range(5):
        send()
    with CaptureQueriesContext(connection) as queries:
        answer = send()
    assert answer.status_code < 300, (answer.status_code, answer.content[:300])
    return sum(not q["sql"].startswith(CONTROL) for q in queries.captured_queries)


first = ready[0]
queries = {
    "create": count(lambda: api.post("/api/tickets/", {
        "queue": queue.pk, "title": "Charged twice",
        "description": "I was charged twice for the same order.",
        "submitter_email": f"{uuid.uuid4().hex}@bench.example", "priority": 3,
    }, content_type="application/json")),
    "detail": count(lambda: api.get(f"/api/tickets/{first}/")),
    "queue": count(lambda: desk.get("/tickets/")) + count(lambda: desk.get(rows_path)),
    "agent page": count(lambda: desk.get(f"/tickets/{first}/")),
}
print(json.dumps({
    "token": token.key,
    "queue": queue.pk,
    "session": [settings.SESSION_COOKIE_NAME, desk.cookies[settings.SESSION_COOKIE_NAME].value],
    "tickets": ready,
    "rows_path": rows_path,
    "queries": queries,
    "version": django.get_version(),
}))
"""


# -- django-helpdesk: install, project, server -------------------------------------------


def pinned_requirements(version: str) -> list[str]:
    """django-helpdesk, and the libraries both systems share at the versions Redress runs,
    so the comparison is of the applications, not of two Djangos or two servers."""
    shared = [
        "Django",
        "uvicorn",
        "uvloop",
        "httptools",
        "psycopg",
        "psycopg-binary",
        "psycopg-pool",
    ]
    pins = [f"django-helpdesk=={version}"]
    for name in shared:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def installed_versions(venv: Path) -> dict[str, str]:
    python = venv / "bin" / "python"
    if not python.exists():
        return {}
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps("
            "{d.metadata['Name'].lower(): d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(probe.stdout) if probe.returncode == 0 else {}


def check_index(index_url: str) -> None:
    """Fail early, and plainly, when the package index cannot be reached."""
    try:
        answer = httpx.get(
            index_url.rstrip("/") + "/django-helpdesk/", timeout=20, follow_redirects=True
        )
    except httpx.HTTPError as error:
        raise BenchFailed(
            f"cannot reach the package index {index_url} to install django-helpdesk "
            f"({error!r}); connect to the network, or point --index-url at a mirror"
        ) from None
    if answer.status_code != 200:
        raise BenchFailed(
            f"the package index {index_url} answered {answer.status_code} for django-helpdesk"
        )


def ensure_helpdesk(venv: Path, version: str, index_url: str) -> None:
    requirements = pinned_requirements(version)
    have = installed_versions(venv)
    wanted = dict(pin.lower().split("==") for pin in requirements)
    if have and all(have.get(name) == release for name, release in wanted.items()):
        print(f"django-helpdesk {version}: reusing {venv}")
        return
    check_index(index_url)
    print(f"installing django-helpdesk {version} into {venv} ...")
    if not (venv / "bin" / "python").exists():
        # The interpreter Redress runs on, not the virtualenv's: a venv of a venv is fragile.
        subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--index-url",
            index_url,
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise BenchFailed(f"installing django-helpdesk failed:\n{result.stdout}{result.stderr}")


def helpdesk_settings(database_url: str, secret_key: str) -> str:
    """The settings module's text, for the database at ``database_url``."""
    parts = urlsplit(database_url)
    return HELPDESK_SETTINGS.format(
        secret_key=secret_key,
        name=parts.path.lstrip("/"),
        user=parts.username or "postgres",
        host=parts.hostname or HOST,
        port=str(parts.port or 5432),
    )


def write_project(project: Path, database_url: str) -> None:
    package = project / "helpdesk_bench"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(helpdesk_settings(database_url, secrets.token_hex(32)))
    (package / "urls.py").write_text(HELPDESK_URLS)
    (package / "asgi.py").write_text(HELPDESK_ASGI)


def helpdesk_database_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_helpdesk"))


def helpdesk_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk_bench.settings",
        PYTHONPATH=str(PROJECT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def helpdesk_run(args: list[str], what: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(VENV / "bin" / "python"), *args],
        cwd=PROJECT,
        env=helpdesk_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise BenchFailed(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


class HelpdeskServer(Server):
    """django-helpdesk under the same uvicorn, from its own virtualenv and project."""

    def __init__(self, workers: int, log_path: Path):
        super().__init__("uvicorn", workers, helpdesk_environment(), log_path)

    def start(self) -> None:
        self.port = free_port()
        args = [
            str(VENV / "bin" / "uvicorn"),
            "helpdesk_bench.asgi:application",
            # Django's ASGI handler has no lifespan; Redress's answers it (its start-up).
            "--lifespan",
            "off",
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
        self.processes.append(
            subprocess.Popen(
                args,
                cwd=PROJECT,
                env=self.env,
                stdout=self.log_path.open("wb"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def wait_ready(self, token: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise BenchFailed(
                        f"django-helpdesk's server exited with {process.returncode}\n"
                        + self.log_tail()
                    )
            try:
                answer = httpx.get(
                    f"{self.base_url}/api/users/",
                    headers={"Authorization": f"Token {token}"},
                    timeout=5,
                    trust_env=False,
                )
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            # Any answer from Django means the workers are up; the list itself is not asked.
            if answer.status_code < 500:
                return
            raise BenchFailed(f"django-helpdesk answered {answer.status_code}\n{self.log_tail()}")
        raise BenchFailed(f"django-helpdesk not ready after {SERVER_START_TIMEOUT_S} s")


# -- the two systems ---------------------------------------------------------------------


@dataclass
class System:
    name: str
    database_url: str
    server: Server
    seeded: dict
    # Table of the created rows, counted before and after each create run.
    created_table: str
    make_calls: dict
    queries: dict

    def rows(self) -> int:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            (count,) = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.created_table))
            ).fetchone()
        return count


def names_ticket(ticket_id: int):
    return lambda body: "" if body.get("id") == ticket_id else f"answered id {body.get('id')!r}"


def page_names(marker: str):
    return lambda text: "" if marker in text else f"the page does not show {marker!r}"


def has_rows(body) -> str:
    return "" if body.get("data") else "no rows in the list"


def created(field_name: str):
    return lambda body: "" if body.get(field_name) else f"no {field_name} in the answer"


def redress_system(args, database_url: str, redis_url: str) -> System:
    env = redress_environment(database_url, redis_url)
    prepared = prepare_database(database_url, env)
    collect_static(env)
    seeded = seed(env, args.complaints, args.events)
    token = {"Authorization": f"Token {seeded['token']}"}
    name, value = seeded["session"]
    session = {"Cookie": f"{name}={value}"}

    def create_calls(bodies_slice):
        # In the bench team, so that they join its queue as the helpdesk's join its list.
        return [
            Call(
                "POST", "/api/complaints/", token, {**body, "team": TEAM}, 201, created("reference")
            )
            for body in bodies_slice
        ]

    def queue_calls(_seeded, count):
        # A queue row links to its complaint's page.
        return [
            Call("GET", "/desk/team/", session, check=page_names("/desk/complaints/"))
            for _ in range(count)
        ]

    return System(
        name="Redress",
        database_url=database_url,
        server=Server("uvicorn", args.workers, env, Path(args.scratch) / "redress.log"),
        seeded=seeded,
        created_table=prepared.complaint_table,
        make_calls={
            "create": create_calls,
            "detail": api_calls,
            "queue": queue_calls,
            "agent page": page_calls,
        },
        queries={
            "create": seeded["queries"]["create"],
            "detail": seeded["queries"]["api"],
            "queue": seeded["queries"]["queue"],
            "agent page": seeded["queries"]["page"],
        },
    )


def helpdesk_system(args, database_url: str) -> System:
    ensure_database(database_url)
    write_project(PROJECT, database_url)
    helpdesk_run(["-m", "django", "migrate", "--no-input", "-v", "0"], "django-helpdesk migrate")
    output = helpdesk_run(
        [
            "-c",
            HELPDESK_SETUP,
            str(args.complaints),
            str(args.events),
            DETAIL_SUBJECT,
            str(QUEUE_ROWS),
        ],
        "django-helpdesk set-up",
    )
    seeded = json.loads(output.strip().splitlines()[-1])
    token = {"Authorization": f"Token {seeded['token']}"}
    name, value = seeded["session"]
    session = {"Cookie": f"{name}={value}"}
    tickets = seeded["tickets"]

    def create_calls(bodies_slice):
        return [
            Call(
                "POST",
                "/api/tickets/",
                token,
                {
                    "queue": seeded["queue"],
                    "title": body["subject"],
                    "description": body["description"],
                    "submitter_email": body["customer"]["email"],
                    "priority": 3,
                },
                201,
                created("id"),
            )
            for body in bodies_slice
        ]

    def detail_calls(_seeded, count):
        ids = (tickets[i % len(tickets)] for i in range(count))
        return [Call("GET", f"/api/tickets/{t}/", token, check=names_ticket(t)) for t in ids]

    def queue_calls(_seeded, count):
        rows = Call("GET", seeded["rows_path"], session, check=has_rows)
        return [
            Call("GET", "/tickets/", session, check=page_names("ticketTable"), then=rows)
            for _ in range(count)
        ]

    def page_calls_(_seeded, count):
        ids = (tickets[i % len(tickets)] for i in range(count))
        return [Call("GET", f"/tickets/{t}/", session, check=page_names(f"bench-{t}")) for t in ids]

    return System(
        name="django-helpdesk",
        database_url=database_url,
        server=HelpdeskServer(args.workers, Path(args.scratch) / "helpdesk.log"),
        seeded=seeded,
        created_table="helpdesk_ticket",
        make_calls={
            "create": create_calls,
            "detail": detail_calls,
            "queue": queue_calls,
            "agent page": page_calls_,
        },
        queries=seeded["queries"],
    )


# -- the rounds --------------------------------------------------------------------------


def calls_for(system: System, path: str, count: int, bodies: list[dict]) -> list[Call]:
    if path == "create":
        return system.make_calls["create"](bodies[:count])
    return system.make_calls[path](system.seeded, count)


def run_path(system: System, path: str, calls: list[Call], args) -> tuple[LoadRun, list[str]]:
    before = system.rows() if path == "create" else 0
    run = measure_load(
        [process.pid for process in system.server.processes],
        system.database_url,
        system.server.base_url,
        calls,
        args.clients,
        args.timeout,
        args.request_timeout,
    )
    problems = run.problems(len(calls))
    if path == "create":
        gained = system.rows() - before
        if gained != len(calls):
            problems.append(f"the database gained {gained} rows for {len(calls)} creates")
        made = [answer.created for answer in run.answers if answer.created]
        if len(set(made)) != len(made):
            problems.append(f"{len(made) - len(set(made))} creates answered a duplicate")
    return run, [f"{system.name} {path}: {problem}" for problem in problems]


def median_figures(runs: list[LoadRun], queries: int) -> dict[str, float]:
    per_run = [run.figures() for run in runs]
    figures = {name: statistics.median(f[name] for f in per_run) for name in per_run[0]}
    figures["SQL statements"] = queries
    return figures


def print_comparison(results: dict, systems: list[System], args, paths: list[str]) -> None:
    a, b = systems
    print(
        f"\nMedians over {args.rounds} rounds of {args.requests} requests a path, "
        f"{args.clients} clients, uvicorn --workers {args.workers} each; "
        "ratio = Redress / django-helpdesk (higher is better for requests/s, lower for the "
        "rest). Per request: server CPU of the server's processes (/proc); SQL statements of "
        "one request (test client); PG active ms and xacts from pg_stat_database."
    )
    for path in paths:
        print(f"\n== {path}: {PATH_TITLES[path]}")
        print(f"{'':16} {'Redress':>10} {'helpdesk':>10} {'ratio':>7}")
        fa = median_figures(results[(a.name, path)], a.queries[path])
        fb = median_figures(results[(b.name, path)], b.queries[path])
        for name, _higher_better in FIGURES:
            ratio = fa[name] / fb[name] if fb[name] else float("nan")
            print(f"{name:16} {fa[name]:10.1f} {fb[name]:10.1f} {ratio:7.2f}")
        spread = (
            [f"{run.figures()['requests/s']:.1f}" for run in results[(a.name, path)]],
            [f"{run.figures()['requests/s']:.1f}" for run in results[(b.name, path)]],
        )
        print(
            f"{'rounds req/s':16} Redress {', '.join(spread[0])}; helpdesk {', '.join(spread[1])}"
        )


PATH_TITLES = {
    "create": "POST /api/complaints/ | POST /api/tickets/",
    "detail": "GET /api/complaints/<ref>/ | GET /api/tickets/<id>/",
    "queue": "GET /desk/team/ | GET /tickets/ + its datatables rows",
    "agent page": "GET /desk/complaints/<ref>/ | GET /tickets/<id>/",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=bounded(1, 20_000), default=200, help="per path a round")
    parser.add_argument("--rounds", type=bounded(1, 50), default=3)
    parser.add_argument("--warmup", type=bounded(0, 1000), default=20, help="per path")
    parser.add_argument("--clients", type=bounded(1, 256), default=16)
    parser.add_argument("--workers", type=bounded(1, 16), default=2)
    parser.add_argument("--complaints", type=bounded(1, 1000), default=20, help="and tickets")
    parser.add_argument("--events", type=bounded(3, 1000), default=50)
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset")
    parser.add_argument("--helpdesk-version", default=HELPDESK_VERSION)
    parser.add_argument("--index-url", default=DEFAULT_INDEX_URL, help="where pip installs from")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_COMPARE_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_COMPARE_REDIS_URL"))
    parser.add_argument("--timeout", type=bounded(10, 3600), default=900, help="per run")
    parser.add_argument(
        "--request-timeout",
        type=bounded(1, 600),
        default=30,
        help="seconds one request may take before it counts as failed (intake.py's 30)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.paths.split(",")) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths {sorted(unknown)}; choose from {PATHS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    paths = [path for path in PATHS if path in args.paths.split(",")]
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    require_loopback(database_url, "the database URL")
    require_loopback(redis_url, "the Redis URL")
    ensure_helpdesk(VENV, args.helpdesk_version, args.index_url)
    creates = args.warmup + args.rounds * args.requests
    # intake.py's bodies: CFPB subjects and narratives, about three per customer.
    plan = build_plan(creates, 0, args.clients, args.data, seed=20240601)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="redress-compare-") as scratch:
        args.scratch = scratch
        systems = [
            redress_system(args, database_url, redis_url),
            helpdesk_system(args, helpdesk_database_url(database_url)),
        ]
        print(
            f"django-helpdesk {args.helpdesk_version} on Django {systems[1].seeded['version']}; "
            f"{args.complaints} complaints and tickets with {args.events} events each"
        )
        results: dict[tuple[str, str], list[LoadRun]] = {
            (s.name, p): [] for s in systems for p in paths
        }
        used = 0
        try:
            for system in systems:
                system.server.start()
                system.server.wait_ready(system.seeded["token"])
                print(f"{system.name}: {system.server.command}")
            if args.warmup:
                for system in systems:
                    for path in paths:
                        calls = calls_for(system, path, args.warmup, plan.bodies)
                        _, warm = run_path(system, path, calls, args)
                        if warm:
                            raise BenchFailed("warm-up failed: " + "; ".join(warm[:6]))
                used = args.warmup
            for number in range(args.rounds):
                order = systems if number % 2 == 0 else systems[::-1]
                bodies = plan.bodies[used : used + args.requests]
                used += args.requests
                for system in order:
                    for path in paths:
                        calls = calls_for(system, path, args.requests, bodies)
                        run, found = run_path(system, path, calls, args)
                        results[(system.name, path)].append(run)
                        problems += found
                        print(
                            f"round {number + 1} {system.name:16} {path:11} "
                            f"{run.figures()['requests/s']:7.1f} req/s "
                            f"{run.figures()['p50 ms']:8.1f} ms p50   load "
                            f"{run.load_before:.1f}"
                        )
        except TimeoutError:
            raise BenchFailed(f"a run did not finish within {args.timeout} s") from None
        finally:
            if problems:
                for system in systems:
                    print(f"-- {system.name}", system.server.log_tail(), sep="\n")
            for system in systems:
                system.server.stop()
    print_comparison(results, systems, args, paths)
    if problems:
        print("\nFAILED:", *problems[:30], sep="\n  ", file=sys.stderr)
        return 1
    print(
        "\nverified: every create answered 201 with a new reference or id and added one row "
        "to its database; every read answered 200 and showed what was asked for"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"bench failed: {failure}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
