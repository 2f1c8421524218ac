"""Every page a customer, an agent, a supervisor and a manager can reach, in a real browser:
axe-core finds no serious or critical violation, and the Content-Security-Policy refuses
nothing, at desktop width and on a 390 px phone. On the insight and corrective-action pages,
root causes are called by their names, never their codes, and no chart's legend or label is
cut off.

The pages are one table, ``PAGES``: a URL pattern of the URL conf (as the access matrix,
tests/security/test_access_matrix.py, names it) and who opens it. A new page is one row
here; ``test_every_page_of_the_url_conf_is_walked_or_said_why_not`` fails until it is added
(or listed in ``NOT_WALKED`` with the reason), so no page escapes the audit.

Fixing a violation means fixing the template or the CSS: no axe rule is turned off.
"""

from dataclasses import dataclass

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from recovery import roles
from tests.desk.live import (
    assert_accessible,
    csp_violations,
    new_page,
    sign_in,
    wait_until_live,
)
from tests.factories import UserFactory
from tests.security.test_access_matrix import (  # noqa: F401 (world is a fixture)
    ADMIN_PREFIX,
    HTTP_RULES,
    PERSONAS,
    fill,
    url_patterns,
    world,
)

# The widths every page is checked at: a desktop, and a 390 px phone (an iPhone 12-15).
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@dataclass(frozen=True)
class Page:
    pattern: str  # as in the URL conf and the access matrix
    who: tuple[str, ...]  # personas of the access matrix; "anonymous" for nobody signed in
    # What to do on the page before the audit (open a widget, send a form), if anything.
    then: str = ""
    # The status the page answers with for the world under test.
    status: int = 200


PAGES = [
    # -- the portal: the public form and the signed links a customer is sent
    Page("", ("anonymous", "customer_a")),
    Page("complaint/received/<str:token>/", ("anonymous",)),
    Page("track/<str:token>/", ("anonymous",)),
    Page("survey/<str:token>/", ("anonymous",)),
    Page("survey/<str:token>/thanks/", ("anonymous",)),
    Page("confirm/<str:token>/", ("customer_a",)),
    # -- signing in, and the account
    Page("desk/login/", ("anonymous",)),
    Page("desk/login/code/", ("second_factor",)),
    Page("desk/two-factor/", ("agent_in",)),
    Page("desk/api-tokens/", ("agent_in",)),
    # -- the agent's desk
    Page("desk/", ("agent_in", "supervisor")),
    Page("desk/team/", ("agent_in",)),
    Page("desk/unassigned/", ("agent_in",)),
    Page("desk/notifications/", ("agent_in",)),
    Page("desk/notifications/preferences/", ("agent_in",)),
    Page("desk/held-mail/", ("agent_in", "supervisor")),
    Page("desk/complaints/<str:reference>/", ("agent_in", "supervisor")),
    Page("desk/complaints/<str:reference>/", ("agent_in",), then="root-cause picker"),
    Page("desk/complaints/<str:reference>/", ("agent_in",), then="macro filled in"),
    # The merge's confirmation answers a POST only: its first step, from the complaint page.
    Page("desk/complaints/<str:reference>/", ("agent_in",), then="merge confirmation"),
    # A bulk action's result, kept in the session: none yet, then one.
    Page("desk/bulk/", ("agent_in",)),
    # Saved views: the form (from the queue's filters) and a team's shared view.
    Page("desk/views/new/", ("agent_in", "supervisor")),
    Page("desk/views/<int:view_id>/", ("agent_in", "supervisor")),
    # -- the supervisor's board, approvals and corrective actions
    Page("desk/board/", ("supervisor", "manager")),
    Page("desk/approvals/", ("supervisor",)),
    Page("desk/corrective-actions/", ("supervisor", "manager")),
    Page("desk/corrective-actions/new/", ("manager",)),
    Page("desk/corrective-actions/<int:action_id>/edit/", ("manager",)),
    Page("desk/macros/", ("supervisor", "manager")),
    Page("desk/macros/new/", ("supervisor",)),
    Page("desk/macros/new/", ("supervisor",), then="macro refused"),
    Page("desk/macros/<int:macro_id>/edit/", ("supervisor",)),
    # Last of the supervisor's: it assigns the team's complaints to them.
    Page("desk/bulk/", ("supervisor",), then="bulk result"),
    # -- insights
    Page("insights/dashboard/", ("manager",)),
    Page("insights/", ("manager",)),
    Page("insights/trends/", ("manager",)),
    Page("insights/repeats/", ("manager",)),
    Page("insights/kpis/", ("manager",)),
    # The world's corrective action is not done yet: the page says when it will measure (409).
    Page("insights/corrective-actions/<int:action_id>/", ("manager",), status=409),
]

# GET routes that are not pages of ours to audit, and why.
NOT_WALKED = {
    "favicon.ico": "an icon",
    "desk/notifications/<int:notification_id>/": "a redirect to the complaint's page",
    "oidc/authenticate/": "a redirect to the identity provider",
    "oidc/callback/": "the identity provider's return: a redirect",
    "api/docs/": "the API's reference, drawn by a third-party viewer",
    "desk/complaints/<str:reference>/files/<int:attachment_id>/": "a file download, not a page",
    "track/<str:token>/files/<int:attachment_id>/": "a file download, not a page",
}


def _walked_patterns() -> set[str]:
    return {page.pattern for page in PAGES}


def test_every_page_of_the_url_conf_is_walked_or_said_why_not():
    """A GET route that answers HTML to people (not the API, not the admin) is in PAGES."""
    pages = {
        pattern
        for pattern in url_patterns()
        if not pattern.startswith((ADMIN_PREFIX, "api/", "^api/"))
        and HTTP_RULES[pattern].method == "GET"
    }
    missing = sorted(pages - _walked_patterns() - set(NOT_WALKED))
    assert missing == [], f"add these pages to PAGES (or to NOT_WALKED, saying why): {missing}"
    assert not _walked_patterns() - pages, "PAGES names a route the URL conf no longer has"


@pytest.fixture
def migrated_defaults(transactional_db):
    import importlib

    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


def _second_factor_user(found):
    """An agent whose sign-in asks for a code: the code step and the enrolled page."""
    user = UserFactory(username="agent_2fa")
    user.groups.add(found.groups[roles.AGENT])
    found.team.members.add(user)
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return user


def _open_root_cause_picker(page, world) -> None:  # noqa: F811
    """Type into the resolve form's cause picker so its list of matches is open."""
    picker = page.locator("form[action$='/resolve/']")
    picker.get_by_role("combobox", name="Root causes").fill("dup")
    picker.get_by_role("listbox").get_by_role("option").first.wait_for()


def _fill_in_a_macro(page, world) -> None:  # noqa: F811
    """Choose the world's macro in the complaint's macro panel: its text filled in."""
    page.get_by_text("Use a macro", exact=True).click()
    page.get_by_label("Macro", exact=True).select_option(label=world.macro.name)
    page.get_by_role("button", name="Fill in").click()
    page.wait_for_url("**?macro=*#macro-text")
    page.locator("#macro-text").wait_for()


def _ask_to_merge(page, world) -> None:  # noqa: F811
    """The first step of merging the world's second complaint from the same customer into
    the complaint: the confirmation, both side by side, nothing merged yet."""
    from recovery.models import Complaint

    duplicate = Complaint.objects.get(subject=DUPLICATE_SUBJECT)
    page.get_by_text("Merge a duplicate into this complaint").click()
    page.get_by_label("Reference of the duplicate").fill(duplicate.reference)
    page.get_by_label("Why they are one complaint").fill("Written in twice.")
    page.get_by_role("button", name="Check and merge").click()
    page.get_by_role("heading", name=f"Merge {duplicate.reference} into").wait_for()


def _refuse_a_macro(page, world) -> None:  # noqa: F811
    """Send the macro form with an unknown placeholder: the page with its errors."""
    page.get_by_label("Name").fill("Refused")
    page.get_by_label("Text sent to the customer").fill("Dear {nobody}.")
    page.get_by_role("button", name="Save the macro").click()
    page.locator(".error-summary").wait_for()


def _do_a_bulk_action(page, world) -> None:  # noqa: F811
    """From the team queue: every complaint on it assigned to the user, then the result."""
    page.goto("/desk/team/")
    folded = page.locator("summary", has_text="Bulk actions")
    if folded.is_visible():  # on a phone the bar is folded behind its summary
        folded.click()
    page.get_by_role("button", name="Select all on this page").click()
    page.get_by_label("Action").select_option("assign")
    page.get_by_label("Assign to (a username, or “me”)").fill("me")
    page.get_by_role("button", name="Apply to the selected").click()
    page.wait_for_url("**/desk/bulk/")
    page.locator("#bulk-summary").wait_for()


THEN = {
    "root-cause picker": _open_root_cause_picker,
    "macro filled in": _fill_in_a_macro,
    "merge confirmation": _ask_to_merge,
    "macro refused": _refuse_a_macro,
    "bulk result": _do_a_bulk_action,
}

# A second complaint of the world's customer, on the same team: the merge's duplicate.
DUPLICATE_SUBJECT = "Matrix, written in twice"

# Pages that speak of root causes: each must call a cause by its name, never its code.
NAMES_NOT_CODES = ("/insights/", "/desk/corrective-actions/")

# Every <text> of every chart inside its picture: no legend, label or axis figure cut off.
CHART_TEXT_CUT_OFF = """
() => [...document.querySelectorAll("svg.chart")].flatMap((svg) => {
  const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll("text")]
    .filter((text) => {
      const r = text.getBoundingClientRect();
      return r.width && (r.left < box.left - 1 || r.right > box.right + 1
        || r.top < box.top - 1 || r.bottom > box.bottom + 1);
    })
    .map((text) => text.textContent);
})
"""


def _with_causes_on_the_charts(world, make_complaint):  # noqa: F811
    """Two complaints resolved with causes, one of them long-named, so that the insight
    pages draw their charts, legends and tables with names in them."""
    from recovery.models import RootCause
    from tests.conftest import acknowledge, resolve

    RootCause.objects.create(
        code="billing.refund-promised-by-phone",
        name="Refund promised on the phone but never sent to the customer's card",
        parent=RootCause.objects.get(code="billing"),
    )
    for causes in (["billing.duplicate-charge"], ["billing.refund-promised-by-phone"]):
        complaint = make_complaint(routed_to=world.team, subject="Charged twice")
        resolve(acknowledge(complaint, world.agent_in), world.agent_in, causes)


def _labels_faults(page) -> list[str]:
    """Cause codes shown as text where the cause has a name, and chart text cut off."""
    from recovery.models import RootCause

    faults = []
    shown = page.locator("main").inner_text()
    codes = RootCause.objects.filter(code__contains=".").values_list("code", flat=True)
    faults += [f"shows the code {code}" for code in codes if code in shown]
    faults += [f"chart text cut off: {text}" for text in page.evaluate(CHART_TEXT_CUT_OFF)]
    return faults


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_every_page_is_accessible_and_under_the_policy(
    width,
    live,
    browser,
    settled,
    migrated_defaults,
    world,  # noqa: F811
    make_complaint,
):
    make_complaint(by=world.customer_a, routed_to=world.team, subject=DUPLICATE_SUBJECT)
    personas = {persona.name: persona for persona in (factory(world) for factory in PERSONAS)}
    users = {name: persona.user for name, persona in personas.items()}
    users["second_factor"] = _second_factor_user(world)
    users["anonymous"] = None
    faults: dict[str, object] = {}
    visited = 0
    for who in dict.fromkeys(name for page in PAGES for name in page.who):
        context_page = new_page(browser, live.base_url)
        context_page.set_viewport_size(VIEWPORTS[width])
        user = users[who]
        if who == "second_factor":
            # The password step only: it leads to the code step, where this one stays.
            context_page.goto("/desk/login/")
            context_page.get_by_label("Username").fill(user.username)
            context_page.get_by_label("Password").fill("pw")
            context_page.get_by_role("button", name="Sign in").click()
            context_page.wait_for_url("**/desk/login/code/")
        elif user is not None:
            sign_in(context_page, user.username)
        for page in PAGES:
            if who not in page.who:
                continue
            path = fill(page.pattern, world)
            label = f"{path} as {who} at {width}{' (' + page.then + ')' if page.then else ''}"
            response = context_page.goto(path)
            visited += 1
            if response is None or response.status != page.status:
                faults[label] = f"answered {response.status if response else 'nothing'}"
                continue
            if context_page.locator("body[data-socket]").count():
                wait_until_live(context_page)
            if page.then:
                THEN[page.then](context_page, world)
            try:
                assert_accessible(context_page, label)
            except AssertionError as failure:
                faults[label] = str(failure)
            if path.startswith(NAMES_NOT_CODES):
                labels = _labels_faults(context_page)
                if labels:
                    faults[f"{label}: labels"] = labels
            refused = csp_violations(context_page)
            if refused:
                faults[f"{label}: CSP"] = refused
        context_page.context.close()
    assert visited == sum(len(page.who) for page in PAGES)
    assert not faults, "\n\n".join(f"{label}:\n{fault}" for label, fault in faults.items())
