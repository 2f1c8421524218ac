"""Photograph the main pages for the docs (``docs/screenshots``) from the demo's data.

``./redress screenshots`` runs it on a throwaway embedded install (a SQLite file in a
temporary folder): the test suite never writes into the checkout, and its data (``<script>``
subjects, "Calm one") is not what a reader of the docs should see. Steps:

1. migrate the empty database and seed the demo (``seed_demo``), as ``./redress run`` does;
2. stage what the pictures show, through the services: the clocks swept (so the board has
   breaches), a refund offered and delivered on a resolved complaint, a goodwill gesture
   above the agent's limit waiting for approval;
3. start the embedded server (uvicorn, worker and beat in one process) on a free port;
4. drive Debian's Chromium with Playwright through the pages, as a customer, an agent and
   a supervisor, and save one PNG per page into the output folder.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.urls import reverse

from demo.management.commands.seed_demo import DEMO_PASSWORD
from escalation.services.sweeper import sweep
from recovery.models import Complaint, State
from recovery.services import remedies, tracking_links

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# The docs' pictures are taken at one desktop size, so that a rebuild changes only what the
# pages changed.
VIEWPORT = {"width": 1280, "height": 900}
# A cold start of the embedded server imports Django, Channels and Celery and starts its
# worker; on a loaded 2-core machine that has taken most of a minute.
START_TIMEOUT_S = 120
# Pages answer in well under a second; the margin is for the embedded worker delivering the
# demo's first hundred emails while the pictures are taken.
PAGE_TIMEOUT_MS = 30_000
HOST = "127.0.0.1"
# Who the pictures show at work (seed_demo's accounts).
AGENT = "agent1"  # billing team
SUPERVISOR = "supervisor1"  # billing and triage teams


class Command(BaseCommand):
    help = (
        "Rebuild the docs' screenshots from the demo's data in Chromium (./redress screenshots "
        "runs it on a throwaway database)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            default=str(Path(settings.BASE_DIR) / "docs" / "screenshots"),
            help="folder for the PNG files (default docs/screenshots)",
        )

    def handle(self, *args, out: str, **options):
        self._refuse_a_database_in_use()
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Migrating and seeding the demo on a fresh database…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo", no_progress=True, verbosity=0, stdout=self.stdout._out)
        staged = stage_the_pictures()
        with embedded_server() as base_url:
            self.stdout.write(f"Photographing the pages of {base_url} …")
            written = photograph(base_url, folder, staged)
        for path in written:
            self.stdout.write(f"  {path}")
        self.stdout.write(self.style.SUCCESS(f"{len(written)} screenshots written to {folder}."))

    def _refuse_a_database_in_use(self) -> None:
        """Only a fresh embedded database: the demo is seeded into it, and its server runs the
        worker and beat in process (no Redis, no separate worker)."""
        if connection.vendor != "sqlite" or settings.REDIS_URL:
            raise CommandError(
                "Screenshots are taken on a throwaway embedded install (SQLite, no Redis): "
                "run ./redress screenshots, which makes one."
            )
        tables = connection.introspection.table_names()
        if Complaint._meta.db_table in tables and Complaint.objects.exists():
            raise CommandError(
                f"The database {settings.DATABASES['default']['NAME']} already holds "
                "complaints: screenshots seed the demo into a fresh one. Run ./redress "
                "screenshots, which makes one."
            )


def stage_the_pictures() -> dict[str, str]:
    """What the pictures show, made through the services; the pages' addresses by name."""
    sweep()  # the demo's older complaints are past their deadlines: the board shows them
    demo = Complaint.objects.filter(source="").select_related("team")
    resolved = demo.filter(team__slug="billing", state=State.RESOLVED).order_by("pk").first()
    open_one = demo.filter(team__slug="billing", state=State.ACKNOWLEDGED).order_by("pk").first()
    closed = demo.filter(team__slug="billing", state=State.LOOP_CLOSED).order_by("pk").first()
    if resolved is None or open_one is None or closed is None:
        raise CommandError("The demo has changed: no resolved, open or closed billing complaint.")
    agent = _user(AGENT)
    refund = remedies.recovery_propose(
        complaint=resolved,
        actor=agent,
        type="refund",
        amount="20.00",
        currency="GBP",
        description="The second charge, refunded to your card.",
        deviation_reason="The customer asked for the charge back, nothing more.",
    )
    remedies.recovery_deliver(action_id=refund.pk, actor=agent, note="Refunded by card.")
    remedies.recovery_propose(
        complaint=open_one,
        actor=agent,
        type="goodwill",
        amount="120.00",
        currency="GBP",
        description="A voucher for the trouble.",
        deviation_reason="Third time this customer has been charged twice.",
    )
    return {
        "complaint": reverse("desk:complaint", args=[resolved.reference]),
        "tracking": reverse("portal:track", args=[tracking_links.tracking_token(closed)]),
    }


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def embedded_server():
    """``config.asgi`` under uvicorn on this process's settings, on a free port."""
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    env = {**os.environ, "REDRESS_PUBLIC_URL": base_url}
    # The demo's emails go to files in the throwaway folder, not over the log.
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    command = [
        *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
        *("--host", HOST, "--port", str(port), "--lifespan", "on", "--log-level", "warning"),
    ]
    with tempfile.TemporaryFile() as log:
        # This interpreter and fixed arguments: nothing in the command comes from outside.
        server = subprocess.Popen(  # noqa: S603
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_answering(server, base_url, log)
            yield base_url
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_answering(server: subprocess.Popen, base_url: str, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise CommandError(f"The server stopped:\n{log.read().decode(errors='replace')}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            urllib.request.urlopen(f"{base_url}/", timeout=5)  # noqa: S310 (our http address)
            return
        time.sleep(0.3)
    raise CommandError(f"The server did not answer in {START_TIMEOUT_S} s.")


def photograph(base_url: str, folder: Path, staged: dict[str, str]) -> list[Path]:
    if not Path(CHROMIUM).exists():
        raise CommandError(f"{CHROMIUM} is missing: install Debian's chromium package.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        raise CommandError("Playwright is a development dependency: pip install -e .[dev]") from (
            missing
        )

    written: list[Path] = []

    def shoot(page, name: str) -> None:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            _customer(browser, base_url, staged, shoot)
            _agent(browser, base_url, staged, shoot)
            _supervisor(browser, base_url, shoot)
        finally:
            browser.close()
    return written


def _new_page(browser, base_url: str):
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context.new_page()


def _customer(browser, base_url, staged, shoot) -> None:
    page = _new_page(browser, base_url)
    page.goto("/")
    shoot(page, "customer-complaint-form")
    page.get_by_label("Your name").fill("Priya Shah")
    page.get_by_label("Your email address").fill("priya.shah@example.com")
    page.get_by_label("What happened?").fill(
        "I paid for my order on 12 January and my card was charged twice: two payments of "
        "£48.20 on the same day. The order only arrived once."
    )
    page.get_by_label("When did it happen?").fill("2026-01-12")
    page.get_by_label("Where did it happen?").select_option("website")
    page.get_by_label("What is it about?").select_option("card-payments")
    page.get_by_label("What would you like us to do?").fill("Refund the second payment.")
    page.get_by_role("button", name="Send my complaint").click()
    page.wait_for_url("**/complaint/received/**")
    shoot(page, "customer-confirmation")

    page.goto(staged["tracking"])
    _wait_until_live(page)
    shoot(page, "customer-tracking")
    page.get_by_role("link", name="Tell us how we handled").first.click()
    page.wait_for_url("**/survey/**")
    shoot(page, "customer-survey")
    page.context.close()


def _agent(browser, base_url, staged, shoot) -> None:
    page = _new_page(browser, base_url)
    _sign_in(page, AGENT)
    page.goto("/desk/team/")
    _wait_until_live(page)
    shoot(page, "agent-team-queue")
    page.goto(staged["complaint"])
    _wait_until_live(page)
    shoot(page, "agent-complaint")
    page.context.close()


def _supervisor(browser, base_url, shoot) -> None:
    page = _new_page(browser, base_url)
    _sign_in(page, SUPERVISOR)
    page.goto("/desk/board/")
    _wait_until_live(page)
    shoot(page, "supervisor-board")
    page.goto("/desk/approvals/")
    _wait_until_live(page)
    shoot(page, "supervisor-approvals")
    page.context.close()


def _sign_in(page, username: str) -> None:
    page.goto("/desk/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/desk/**")


def _wait_until_live(page) -> None:
    """The page's socket is open: the picture shows a page as people see it, connected."""
    page.wait_for_selector("body[data-live-connected='true']", state="attached")
