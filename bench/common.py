"""What detail.py and compare.py share: closed-loop GET/POST load against a running server,
with the CPU of the server's processes, what PostgreSQL says it spent, and the checks.

The server processes, CPU readings from /proc and the connection sampler are intake.py's;
this module adds a load generator for any request (intake's sends creates only) and the
per-database counters of ``pg_stat_database``, which survive the backends that a server
without persistent connections opens and closes once a request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import psycopg

from bench.intake import (
    REQUEST_TIMEOUT_S,
    ConnectionSampler,
    cpu_snapshot,
    cpu_spent,
    descendants,
    percentile,
    postgres_backends,
)

# PostgreSQL 15 backends flush their statistics at most once a second and when they exit;
# wait this long after a run before reading pg_stat_database so the last ones are in.
STATS_FLUSH_S = 1.2


@dataclass(frozen=True)
class Call:
    """One request of a run and what its answer must be."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    status: int = 200
    # Given the decoded answer (JSON, or the text of a page), says what is wrong with it.
    check: Callable[[object], str] | None = None
    # A request the same client sends as soon as this one has answered, timed with it: the
    # second half of what a browser needs to show one screen.
    then: Call | None = None


@dataclass
class Answer:
    index: int
    status: int
    latency_s: float
    problem: str = ""
    created: str = ""


async def _send(client: httpx.AsyncClient, index: int, call: Call) -> Answer:
    started = time.perf_counter()
    answer = await _send_one(client, index, call, started)
    while not answer.problem and call.then is not None:
        call = call.then
        answer = await _send_one(client, index, call, started)
    return answer


async def _send_one(client: httpx.AsyncClient, index: int, call: Call, started: float) -> Answer:
    try:
        response = await client.request(
            call.method, call.path, headers=call.headers, json=call.body
        )
    except httpx.HTTPError as error:
        return Answer(index, 0, time.perf_counter() - started, problem=repr(error))
    latency = time.perf_counter() - started
    answer = Answer(index, response.status_code, latency)
    if response.status_code != call.status:
        answer.problem = " ".join(response.text.split())[:300]
        return answer
    content_type = response.headers.get("content-type", "")
    decoded = response.json() if "json" in content_type else response.text
    if call.check is not None:
        answer.problem = call.check(decoded)
    if isinstance(decoded, dict):
        # What a create answered: Redress's reference, django-helpdesk's ticket id.
        answer.created = str(decoded.get("reference") or decoded.get("id") or "")
    return answer


async def drive(
    base_url: str,
    calls: list[Call],
    clients: int,
    deadline_s: float,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> tuple[list[Answer], float]:
    """Closed loop: client c sends calls c, c + C, c + 2C, ... each when the last answered."""
    answers: list[Answer] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=request_timeout_s, trust_env=False
    ) as client:

        async def one_client(number: int) -> None:
            for index in range(number, len(calls), clients):
                answers.append(await _send(client, index, calls[index]))

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(one_client(n) for n in range(clients))), timeout=deadline_s
        )
        wall = time.perf_counter() - started
    return answers, wall


def database_stats(database_url: str) -> dict[str, float]:
    """The database's cumulative counters: sessions opened, transactions, time active."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions, xact_commit + xact_rollback, active_time"
            " FROM pg_stat_database WHERE datname = %s",
            [name],
        ).fetchone()
    return {"sessions": row[0], "transactions": row[1], "active_ms": row[2]}


class CountingSampler(ConnectionSampler):
    """intake's sampler, counting its own samples: each opens a session and runs a
    transaction in the database it watches, which are not the server's."""

    def __init__(self, database_url: str):
        super().__init__(database_url)
        self.samples = 0

    def run(self) -> None:
        while not self.finished.wait(self.INTERVAL_S):
            self.samples += 1
            backends = postgres_backends(self.database_url)
            self.peak = max(self.peak, len(backends))
            self.seen.update(backends)


@dataclass
class LoadRun:
    answers: list[Answer]
    wall_s: float
    server_cpu_s: float
    postgres_cpu_s: float
    # Backends that exited before the end: their CPU is not in postgres_cpu_s.
    backends_gone: int
    postgres_active_ms: float
    sessions: int
    transactions: int
    peak_connections: int
    client_cpu_s: float
    load_before: float
    load_after: float

    @property
    def count(self) -> int:
        return len(self.answers)

    def latencies_ms(self) -> list[float]:
        return sorted(answer.latency_s * 1000 for answer in self.answers)

    def problems(self, expected: int) -> list[str]:
        found = []
        if self.count != expected:
            found.append(f"{self.count} answers for {expected} requests")
        wrong = [answer for answer in self.answers if answer.problem or answer.status == 0]
        statuses = Counter(answer.status for answer in self.answers)
        if wrong:
            found.append(f"{len(wrong)} wrong answers (statuses {dict(statuses)})")
            found += [f"  request {a.index}: {a.status} {a.problem}" for a in wrong[:5]]
        return found

    def figures(self) -> dict[str, float]:
        """Per-request figures: what the report tables print."""
        latencies = self.latencies_ms()
        count = self.count
        return {
            "requests/s": count / self.wall_s,
            "p50 ms": percentile(latencies, 0.50),
            "p95 ms": percentile(latencies, 0.95),
            "p99 ms": percentile(latencies, 0.99),
            "server CPU ms": self.server_cpu_s / count * 1000,
            "PG active ms": self.postgres_active_ms / count,
            "PG xacts": self.transactions / count,
            "PG sessions": self.sessions / count,
        }


def measure_load(
    server_pids: list[int],
    database_url: str,
    base_url: str,
    calls: list[Call],
    clients: int,
    timeout_s: float,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> LoadRun:
    """Send ``calls`` from ``clients`` closed-loop clients and account for what it cost.

    1. Snapshot the CPU of the server's process tree and of the database's backends
       (/proc), and the database's pg_stat_database counters.
    2. Drive the load while a sampler lists the database's backends twice a second.
    3. Snapshot again; wait for the backends' statistics to be flushed, read the counters.

    The sessions and transactions of this function's own readings (one each before and
    after) and of the sampler's are taken off the counters.
    """
    server_before = cpu_snapshot(descendants(server_pids))
    postgres_before = cpu_snapshot(postgres_backends(database_url))
    stats_before = database_stats(database_url)
    client_before = time.process_time()
    load_before = os.getloadavg()[0]
    sampler = CountingSampler(database_url)
    sampler.start()
    try:
        answers, wall = asyncio.run(drive(base_url, calls, clients, timeout_s, request_timeout_s))
    finally:
        sampler.stop()
    client_cpu = time.process_time() - client_before
    server_after = cpu_snapshot(descendants(server_pids))
    postgres_after = cpu_snapshot(postgres_backends(database_url))
    load_after = os.getloadavg()[0]
    time.sleep(STATS_FLUSH_S)
    stats_after = database_stats(database_url)
    seen = sampler.seen | set(postgres_before) | set(postgres_after)
    # A session and a transaction each: the sampler's samples, the backends listed after
    # the run and the first counters' reading.
    own = sampler.samples + 2
    return LoadRun(
        answers=answers,
        wall_s=wall,
        server_cpu_s=cpu_spent(server_before, server_after),
        postgres_cpu_s=cpu_spent(postgres_before, postgres_after),
        backends_gone=len(seen - set(postgres_after)),
        postgres_active_ms=stats_after["active_ms"] - stats_before["active_ms"],
        sessions=int(stats_after["sessions"] - stats_before["sessions"]) - own,
        transactions=int(stats_after["transactions"] - stats_before["transactions"]) - own,
        peak_connections=sampler.peak,
        client_cpu_s=client_cpu,
        load_before=load_before,
        load_after=load_after,
    )


def print_rows(rows: list[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
