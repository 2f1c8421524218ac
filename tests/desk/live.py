"""A live Redress for the browser tests: uvicorn and a Celery worker on the test database,
and Debian's Chromium driven by Playwright.

The servers are the production entry points (``config.asgi`` under uvicorn, ``celery -A
config worker``) on the pytest-django test database and the test Redis, as in
``tests/notifications/test_end_to_end.py``; the test process commits what they must see
(``transaction=True``).
"""

import contextlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.processes import (
    HOST,
    Child,
    free_port,
    solo_worker_command,
    subprocess_environment,
    uvicorn_command,
    wait_until_worker_idle,
)

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def screenshots_folder(named: str | None) -> Path:
    """Where the tests photograph pages: a temporary folder, or the one
    REDRESS_SCREENSHOTS_DIR names, never inside the checkout.

    The suite leaves the checkout as it found it (``./redress test`` fails otherwise); the
    docs' pictures are made from the demo's data by ``./redress screenshots``, not from the
    tests' data (which holds ``<script>`` subjects and the like).
    """
    folder = Path(named).resolve() if named else Path(tempfile.gettempdir()) / "redress-screenshots"
    if folder.is_relative_to(ROOT):
        raise ValueError(
            f"REDRESS_SCREENSHOTS_DIR={named} is inside the checkout: the tests never write "
            "there. Use a folder outside it; ./redress screenshots rebuilds docs/screenshots."
        )
    return folder


SCREENSHOTS = screenshots_folder(os.environ.get("REDRESS_SCREENSHOTS_DIR"))
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, headless, with nothing that reaches out to the network by itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots are taken at one size so that they compare between runs.
VIEWPORT = {"width": 1280, "height": 900}
# A cold start imports Django, Channels and Celery in each process; on a loaded 2-core
# machine (the browser runs too) that has taken over a minute.
START_TIMEOUT_S = 150
# A live update goes commit -> worker -> Redis -> socket -> fetch of the page: well under a
# second normally. The margin covers a 2-core machine also running the rest of the suite in
# a second process, where a solo worker that has just started can take tens of seconds to
# import and answer its first task (20 s was seen to fall short once).
LIVE_TIMEOUT_MS = 60_000


# How long the live worker may take to finish what a test set off (a delivery, its emails).
SETTLE_TIMEOUT_S = 60


class LiveRedress:
    def __init__(self, base_url: str, children: list[Child], worker: Child, node_name: str):
        self.base_url = base_url
        self.children = children
        self.worker = worker
        self.node_name = node_name

    def logs(self) -> str:
        return "\n".join(child.log() for child in self.children)

    def settle(self, browser) -> None:
        """Let the live processes finish what a test set off, before its teardown empties the
        database: a flush (TRUNCATE) taken while a delivery commits deadlocks with it.

        Closes the test's pages (their sockets leave, and their presence with them), then
        waits for the worker to be idle.
        """
        for context in browser.contexts:
            context.close()
        wait_until_worker_idle(self.worker, self.node_name, SETTLE_TIMEOUT_S)


def _wait_for_http(server: Child, base_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        server.check_alive()
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"{base_url}/", timeout=5, trust_env=False)
            assert answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}"
            return
        time.sleep(0.2)
    raise AssertionError(f"server not ready in {START_TIMEOUT_S} s\n{server.log()}")


@contextlib.contextmanager
def live_redress():
    env = subprocess_environment()
    env["DJANGO_SETTINGS_MODULE"] = "tests.desk.live_settings"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    node_name = f"web-{uuid.uuid4().hex[:8]}@{HOST}"
    with tempfile.TemporaryDirectory(prefix="redress-web-") as scratch:
        children: list[Child] = []
        try:
            server = Child(
                "uvicorn",
                uvicorn_command(port),
                env,
                Path(scratch),
            )
            children.append(server)
            worker = Child(
                "celery",
                solo_worker_command(node_name),
                env,
                Path(scratch),
            )
            children.append(worker)
            _wait_for_http(server, base_url)
            wait_until_worker_idle(worker, node_name, START_TIMEOUT_S)
            yield LiveRedress(base_url, children, worker, node_name)
        finally:
            for child in children:
                child.stop()


@contextlib.contextmanager
def chromium():
    """Playwright's Chromium driver on Debian's browser (never a downloaded build)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does).")
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API runs an event loop in this thread; the test's own ORM
    # calls are synchronous and safe here (DESIGN.md, tests in layers, 4).
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


# Runs first in every document of a test's pages (from the driver, so the page's own
# Content-Security-Policy does not apply to it): records each violation the browser reports.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile || document.location.pathname}:${event.lineNumber})`
  );
});
"""


def new_page(browser, base_url: str):
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context.new_page()


def csp_violations(page) -> list[str]:
    """What the page's Content-Security-Policy refused since it was loaded."""
    return page.evaluate("window.__cspViolations")


def serious_accessibility_violations(page) -> list[dict]:
    """Run axe-core in the page; violations of serious or critical impact."""
    # Evaluated by the driver: a <script> tag with the code inline would be refused by the
    # page's Content-Security-Policy (and reported as a violation).
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def assert_accessible(page, name: str) -> None:
    violations = serious_accessibility_violations(page)
    assert not violations, f"{name}: {json.dumps(violations, indent=2)}"


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str, password: str = "pw") -> None:
    page.goto("/desk/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Away from the sign-in page: to the queue, or a manager's dashboard under /insights/.
    page.wait_for_url(lambda url: "/desk/login/" not in url)


def wait_until_live(page) -> None:
    """The page's socket is open and has said hello."""
    page.wait_for_selector("body[data-live-connected='true']", state="attached")
