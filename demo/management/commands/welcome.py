"""Print where to go once Redress answers: its pages and, on a demo install, the logins.

``./redress run`` calls it when the server first answers, so a first start ends with the
addresses to open rather than with a server log.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.urls import reverse

from demo.management.commands.seed_demo import CUSTOMERS, DEMO_PASSWORD, STAFF
from recovery import roles

ROLE_NAMES = {
    roles.AGENT: "agent",
    roles.SUPERVISOR: "supervisor",
    roles.COMPLAINTS_MANAGER: "complaints manager",
}

# Page, the URL name it has, and who it is for.
PAGES = [
    ("Complaint form", "portal:complain", "customers, no sign-in"),
    ("Agent desk", "desk:my-queue", "agents and supervisors"),
    ("Escalation board", "desk:board", "supervisors"),
    ("Dashboard", "insights:dashboard", "complaints managers land here"),
    ("Insights", "insights:pareto", "complaints managers"),
    ("API docs", "api-docs", "integrators; tokens from /api/auth/token/"),
    ("Admin", "admin:index", "set-up: teams, policies, calendars, templates"),
]


class Command(BaseCommand):
    help = "Print Redress's pages at the given address and, on a demo install, the logins."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="public address")

    def handle(self, *args, url: str, **options):
        base = url.rstrip("/")
        width = max(len(name) for name, _, _ in PAGES)
        self.stdout.write(self.style.SUCCESS(f"Redress is ready at {base}/"))
        for name, url_name, audience in PAGES:
            self.stdout.write(f"  {name:<{width}}  {base}{reverse(url_name)}  ({audience})")
        staff, customers = self._demo_logins()
        if staff:
            self.stdout.write(
                f"Demo staff logins (password '{DEMO_PASSWORD}'), at {base}/desk/login/:"
            )
            for username, role in staff:
                self.stdout.write(f"  {username:<12} {role}")
        if customers:
            # The desk refuses customers (403): they follow their complaints from the tracking
            # links in their emails, and may use the API with a token.
            self.stdout.write(
                f"Demo customers (password '{DEMO_PASSWORD}'), not for the desk: they follow"
                f" their complaints from the tracking links in their emails, or use the API"
                f" with a token from {base}/api/auth/token/:"
            )
            for username, role in customers:
                self.stdout.write(f"  {username:<12} {role}")
        self.stdout.write("Stop with Ctrl+C.")

    def _demo_logins(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The seeded demo staff and customers that exist here, with what each is for."""
        if not settings.REDRESS_DEMO:
            return [], []
        staff = [(username, _staff_role(role, teams)) for username, role, teams, *_ in STAFF]
        customers = [(username, f"customer ({name})") for username, name, _ in CUSTOMERS]
        present = set(
            get_user_model()
            .objects.filter(
                username__in=[username for username, _ in staff + customers], is_active=True
            )
            .values_list("username", flat=True)
        )
        return (
            [login for login in staff if login[0] in present],
            [login for login in customers if login[0] in present],
        )


def _staff_role(role: str, teams: list[str]) -> str:
    """'agent, billing team' or 'supervisor, billing and triage teams'."""
    described = ROLE_NAMES.get(role, role)
    if not teams:
        return described
    names = " and ".join([", ".join(teams[:-1]), teams[-1]] if len(teams) > 1 else teams)
    return f"{described}, {names} team" + ("s" if len(teams) > 1 else "")
