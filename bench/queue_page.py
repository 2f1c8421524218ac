"""The agent's queue page over 100,000 complaints in PostgreSQL: server time and queries.

    .venv/bin/python bench/queue_page.py [--complaints 100000] [--requests 200] [--reseed]

What it does, in order:

1. Sets a production-like environment (DEBUG off, its own database,
   ``postgres://postgres@127.0.0.1:5432/redress_bench_queue`` unless ``--database-url`` or
   ``BENCH_QUEUE_DATABASE_URL`` say otherwise); creates the database if missing, migrates it.
2. Seeds ``--complaints`` complaints with ``INSERT … SELECT … generate_series`` in PostgreSQL
   (no Python object per row): 1,000 customers with telephones, four teams (the bench
   agent's team holds a quarter, 1 % have no team yet), four channels, four severities, two
   categories, one in five under a regulatory profile; 60 % open with a running resolve clock
   each and next deadlines spread over the next 30 days, 5 % of the open ones with a breached
   acknowledgement clock (a third of those a statutory one too); an internal note on one
   complaint in seven; one complaint in 50 is assigned to the bench agent. The urgency is then
   written by the clocks service's refresh, in batches. A database already holding exactly
   that many bench complaints is reused; ``--reseed`` starts over.
3. Signs the agent in with Django's test client (the whole request path in this process:
   middleware, session, view, selectors, template) and, after a warm-up, requests each page
   ``--requests`` times: My queue, the Team queue (urgency order) on its first page and its
   100th, the Unassigned tab, each filter (deadline, team, assignee me / unassigned / by
   name, category, channel, severity, profile, state, five at once), sorted newest first, a
   saved view (three filters, five columns; the agent has three views, whose counts are in the
   menu of every page, cached as in production), and searches: by an open
   and a closed complaint's reference, a customer's name (100 of the 100,000 complaints),
   email and telephone, a phrase in one subject, words in every description (ranked: every
   match of the queue is ranked for the first page), and a word of the messages.
4. Prints p50 and p95 of the server time per page and the SQL queries each page sent, and
   checks the query count is the same for every page (it must not depend on what the page
   holds, nor on the filter or search; the count is what most of a page's requests sent: the
   one that refreshes the menu's saved-view counts, every 30 seconds, sends two more). Target
   (issue 6): p95 under 50 ms for every page.

Exits 1 if the query counts differ between pages; a missed time target is reported, not an
error, because the figure is the point.
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

from bench.sweep import BenchFailed, _insert_select, ensure_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_queue"
# Production mode needs a Redis URL in the settings; the bench's only use of it is the cache
# that holds the agent's saved views' counts for the menu (desk.view_counts).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
# Shaped like real references (RDR-2026-000123), so a search by reference is recognised.
REFERENCE_PREFIX = "BQ-2026-"
TEAMS = ("bench-queue-a", "bench-queue-b", "bench-queue-c", "bench-queue-d")
AGENT = "bench_queue_agent"
CUSTOMERS = 1_000
P95_TARGET_MS = 50.0
WARMUP = 20


def configure_environment(database_url: str, redis_url: str = DEFAULT_REDIS_URL) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        SECRET_KEY=f"bench-queue-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        REDRESS_DEMO="0",
        LOG_LEVEL="WARNING",
    )


def ensure_people():
    from django.contrib.auth import get_user_model

    from recovery import roles
    from recovery.models import Team

    groups = roles.ensure_role_groups()
    teams = [
        Team.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})[0]
        for slug in TEAMS
    ]
    agent, _ = get_user_model().objects.get_or_create(username=AGENT)
    agent.groups.add(groups[roles.AGENT])
    teams[0].members.add(agent)
    return agent, teams


# The bench agent's saved view: their team's high-severity complaints by telephone under a
# regulatory profile, five columns. It is also in the menu of every page measured, with its
# count and the agent's two other views' (desk.view_counts, cached as in production).
SAVED_VIEWS = {
    "Bench: high by phone, regulated": (
        {"severity": "high", "channel": "phone", "profile": "uk_fca_disp"},
        ["deadline", "subject", "customer", "state", "assignee"],
    ),
    "Bench: at risk": ({"risk": "at_risk"}, []),
    "Bench: critical": ({"severity": "critical"}, []),
}


def saved_view(agent):
    """The agent's saved views (made once), the first of them to be measured."""
    from recovery.models import SavedView

    views = []
    for name, (parameters, columns) in SAVED_VIEWS.items():
        view, _ = SavedView.objects.update_or_create(
            owner=agent,
            name=name,
            defaults={
                "scope": "team",
                "parameters": parameters,
                "columns": columns,
            },
        )
        views.append(view)
    return views[0]


def bench_count() -> int:
    from recovery.models import Complaint

    return Complaint.objects.filter(reference__startswith=REFERENCE_PREFIX).count()


def wipe() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE escalation_escalation, escalation_clock, recovery_complaintevent, "
            "notifications_outbox, notifications_notification, recovery_message, "
            "recovery_complaint, recovery_customer CASCADE"
        )


def seed(count: int, agent, teams) -> None:
    from django.db import connection, transaction

    from escalation.models import BusinessCalendar, Clock
    from escalation.services.snapshot import complaints_refresh_sla
    from recovery.models import Category, Complaint, Customer, Message

    calendar = BusinessCalendar.objects.get(slug="office-hours")
    team_ids = ", ".join(str(int(team.pk)) for team in teams)
    category_ids = ", ".join(
        str(int(Category.objects.get_or_create(slug=slug, defaults={"name": name})[0].pk))
        for slug, name in (("bench-cards", "Bench cards"), ("bench-loans", "Bench loans"))
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        _insert_select(
            Customer,
            {
                "name": "'Customer ' || n",
                "email": "'bench-queue-' || n || '@example.com'",
                "phone": "'+44 20 7946 ' || lpad(n::text, 4, '0')",
                "preferred_language": "'en'",
                "created_at": "now()",
            },
            "generate_series(1, %s) AS n",
            [CUSTOMERS],
        )
        cursor.execute("SELECT min(id) FROM recovery_customer WHERE email LIKE 'bench-queue-%%'")
        (first_customer,) = cursor.fetchone()
        # n % 10 < 6: open (received or acknowledged); the rest resolved or loop-closed.
        # Literal % is written %% (the statement also carries parameters).
        state = (
            "CASE WHEN n %% 10 < 3 THEN 'received' WHEN n %% 10 < 6 THEN 'acknowledged' "
            "WHEN n %% 10 < 8 THEN 'resolved' ELSE 'loop_closed' END"
        )
        _insert_select(
            Complaint,
            {
                "reference": f"'{REFERENCE_PREFIX}' || lpad(n::text, 7, '0')",
                "customer_id": f"{int(first_customer)} + n %% {CUSTOMERS}",
                "channel": "(ARRAY['web', 'email', 'phone', 'chat'])[1 + (n / 3) %% 4]",
                "severity": "(ARRAY['low', 'medium', 'high', 'critical'])[1 + (n / 7) %% 4]",
                "category_id": f"(ARRAY[{category_ids}])[1 + (n / 5) %% 2]",
                "regulatory_profile": "CASE WHEN n %% 5 = 0 THEN 'uk_fca_disp' ELSE '' END",
                "subject": "'Complaint number ' || n",
                "description": "'The order ' || n || ' was charged twice and never arrived.'",
                "team_id": f"CASE WHEN n %% 100 = 0 THEN NULL "
                f"ELSE (ARRAY[{team_ids}])[1 + n %% 4] END",
                "assignee_id": f"CASE WHEN n %% 50 = 4 THEN {int(agent.pk)} ELSE NULL END",
                "state": state,
                "next_deadline_at": "CASE WHEN n %% 10 < 6 THEN now() "
                "+ make_interval(secs => (n * 7919) %% (30 * 86400)) END",
                "received_at": "now() - make_interval(secs => n)",
            },
            "generate_series(1, %s) AS n",
            [count],
        )
        clock_columns = {
            "complaint_id": "c.id",
            "state": "'running'",
            "calendar_id": str(int(calendar.pk)),
            "basis": "'business'",
            "target_seconds": "40 * 3600",
            "started_at": "c.received_at",
        }
        _insert_select(
            Clock,
            {
                **clock_columns,
                "kind": "'resolve'",
                "due_at": "c.next_deadline_at",
                "warn_at": "c.next_deadline_at - interval '8 hours'",
            },
            f"{Complaint._meta.db_table} c WHERE c.reference LIKE %s "
            "AND c.state IN ('received', 'acknowledged')",
            [f"{REFERENCE_PREFIX}%"],
        )
        _insert_select(
            Clock,
            {
                **clock_columns,
                "kind": "'acknowledge'",
                "state": "'breached'",
                "due_at": "c.received_at + interval '8 hours'",
                "breached_at": "c.received_at + interval '8 hours'",
            },
            f"{Complaint._meta.db_table} c WHERE c.reference LIKE %s "
            "AND c.state = 'received' AND c.id %% 6 = 0",
            [f"{REFERENCE_PREFIX}%"],
        )
        # A statutory acknowledgement deadline breached too on a third of those: they sort
        # first of all.
        _insert_select(
            Clock,
            {
                **clock_columns,
                "kind": "'acknowledge'",
                "state": "'breached'",
                "regulatory_profile": "'uk_fca_disp'",
                "due_at": "c.received_at + interval '3 days'",
                "breached_at": "c.received_at + interval '3 days'",
            },
            f"{Complaint._meta.db_table} c WHERE c.reference LIKE %s "
            "AND c.state = 'received' AND c.id %% 18 = 0",
            [f"{REFERENCE_PREFIX}%"],
        )
        # A message on one complaint in seven, for the search of messages' words.
        _insert_select(
            Message,
            {
                "complaint_id": "c.id",
                "direction": "'internal'",
                "kind": "'note'",
                "channel": "'web'",
                "body": "'Called the courier about parcel ' || c.id || '; a refund is on its way.'",
                "created_at": "now()",
            },
            f"{Complaint._meta.db_table} c WHERE c.reference LIKE %s AND c.id %% 7 = 3",
            [f"{REFERENCE_PREFIX}%"],
        )
    # The urgency and the deadline copy, as the clocks service writes them: in batches.
    open_ids = list(
        Complaint.objects.filter(
            reference__startswith=REFERENCE_PREFIX, state__in=["received", "acknowledged"]
        ).values_list("pk", flat=True)
    )
    for start in range(0, len(open_ids), 5_000):
        with transaction.atomic():
            complaints_refresh_sla(open_ids[start : start + 5_000])
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) recovery_complaint, escalation_clock, recovery_customer, "
            "recovery_message"
        )
    print(f"seeded {count:,} complaints and their clocks in {time.perf_counter() - started:.1f} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure(client, path: str, requests: int) -> tuple[float, float, float, float, int, int]:
    """(p50 ms, p95 ms, CPU ms of this process per request, SQL ms per request, queries per
    request, rows shown) for ``path``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        answer = client.get(path)
        if answer.status_code != 200:
            raise BenchFailed(f"{path} answered {answer.status_code}")
    timings = []
    cpu_started = time.process_time()
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
    sql_ms, counts = [], []
    for _ in range(min(requests, 20)):
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(path)
        sql_ms.append(sum(float(query["time"]) for query in queries.captured_queries) * 1000)
        counts.append(len(queries))
    rows = answer.content.decode().count("data-reference=")
    # The page's own statements: those most requests sent. A request that finds the menu's
    # saved-view counts expired in the cache (every MENU_SECONDS) sends two more, once.
    return (
        statistics.median(timings),
        percentile(timings, 0.95),
        cpu_ms,
        statistics.median(sql_ms),
        statistics.mode(counts),
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--complaints", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reseed", action="store_true", help="drop the bench data and seed again")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_QUEUE_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_QUEUE_REDIS_URL", DEFAULT_REDIS_URL)
    )
    args = parser.parse_args()
    if not 1_000 <= args.complaints <= 5_000_000 or not 10 <= args.requests <= 10_000:
        parser.error("need 1,000 <= --complaints <= 5,000,000 and 10 <= --requests <= 10,000")

    configure_environment(args.database_url, args.redis_url)
    ensure_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client, override_settings

    from recovery.models import Category

    call_command("migrate", verbosity=0)
    print(
        "load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} CPUs".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    agent, _teams = ensure_people()
    found = bench_count()
    if args.reseed or found != args.complaints:
        print(f"found {found:,} bench complaints, want {args.complaints:,}: seeding")
        wipe()
        agent, _teams = ensure_people()
        seed(args.complaints, agent, _teams)
    else:
        print(f"reusing {found:,} seeded complaints")

    # An open complaint of the agent's team (n % 4 == 0, n % 10 < 6; see seed).
    number = args.complaints // 2 + 4
    reference = f"{REFERENCE_PREFIX}{number:07d}"
    # A closed one (n % 10 >= 6) of the agent's team: a reference finds it in any state.
    closed = f"{REFERENCE_PREFIX}{args.complaints // 2 + 8:07d}"
    team = _teams[0].pk
    category = Category.objects.get(slug="bench-cards").pk
    view = saved_view(agent)
    # Customer 125 has the complaints n with n % 1,000 == 124: all open, all the agent's team.
    pages = [
        ("My queue", "/desk/"),
        ("Team queue, page 1 (urgency)", "/desk/team/"),
        ("Team queue, page 100", "/desk/team/?page=100"),
        ("Unassigned, page 1", "/desk/unassigned/"),
        ("Filter: at risk or breached", "/desk/team/?risk=at_risk"),
        ("Filter: team", f"/desk/team/?team={team}"),
        ("Filter: assignee me", "/desk/team/?assignee=me"),
        ("Filter: unassigned", "/desk/team/?assignee=none"),
        ("Filter: assignee by name", f"/desk/team/?assignee={AGENT}"),
        ("Filter: category", f"/desk/team/?category={category}"),
        ("Filter: channel", "/desk/team/?channel=phone"),
        ("Filter: severity", "/desk/team/?severity=critical"),
        ("Filter: profile", "/desk/team/?profile=uk_fca_disp"),
        ("Filter: state resolved", "/desk/team/?state=resolved"),
        ("Filter: all five", f"/desk/team/?team={team}&channel=email&severity=low&profile=none"),
        ("Sort: newest first", "/desk/team/?sort=newest"),
        ("Saved view (3 filters, 5 columns)", f"/desk/views/{view.pk}/"),
        ("Search: reference", f"/desk/team/?q={reference}"),
        ("Search: closed reference", f"/desk/team/?q={closed}"),
        ("Search: customer name", "/desk/team/?q=Customer+125"),
        ("Search: email", "/desk/team/?q=bench-queue-125@example.com"),
        ("Search: phone", "/desk/team/?q=20+7946+0125"),
        ("Search: rare word (subject)", f"/desk/team/?q=number+{number}"),
        ("Search: words in every text", "/desk/team/?q=never+arrived"),
        ("Search: a message's words", "/desk/team/?q=courier"),
    ]
    # Debug is off, so static URLs would need collected files: the bench measures the queue,
    # not the manifest, and serves static files from the apps instead.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = Client()
    client.force_login(agent)
    results = []
    with override_settings(STORAGES=storages):
        for name, path in pages:
            p50, p95, cpu, sql, queries, rows = measure(client, path, args.requests)
            results.append((name, args.requests, rows, p50, p95, cpu, sql, queries))
    print(
        f"{'page':36} {'requests':>8} {'rows':>5} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'CPU ms':>7} {'SQL ms':>7} {'queries':>7}"
    )
    for name, requests, rows, p50, p95, cpu, sql, queries in results:
        print(
            f"{name:36} {requests:8d} {rows:5d} {p50:7.1f} {p95:7.1f} "
            f"{cpu:7.1f} {sql:7.1f} {queries:7d}"
        )
    print(
        "CPU ms: this process (Django, templates, the driver) per request; SQL ms: median "
        "time in the database per request, as the driver saw it"
    )
    worst = max(result[4] for result in results)
    verdict = "meets" if worst < P95_TARGET_MS else "MISSES"
    print(
        f"worst p95 of the queue pages: {worst:.1f} ms; {verdict} the {P95_TARGET_MS:.0f} ms target"
    )
    # Every page, whatever it shows, sends the same queries (the rows' clock flags are part
    # of the page's query, the user's teams a subquery).
    counts = {result[7] for result in results}
    if len(counts) != 1:
        raise BenchFailed(f"the pages sent different numbers of queries: {counts}")
    print(f"queries: {counts.pop()} for every page, whatever it shows")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
