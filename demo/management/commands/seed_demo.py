"""Fill an empty Redress with demo teams, accounts and complaints in every state.

Besides the hand-written demo complaints it imports about two thousand real complaints from
the CFPB's public database, so the insights have real patterns to show.

Idempotent: accounts and reference data (the recovery guide and the desk's macros among
them) are created or left as they are, and the demo complaints are added only once. Refused unless demos are allowed (``REDRESS_DEMO``, on by
default only with ``DJANGO_DEBUG``), because every demo account has the password ``demo``.
"""

import random
import sys
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from common.progress import ProgressBar
from imports import cfpb
from recovery import roles
from recovery.models import (
    Category,
    Complaint,
    Customer,
    Macro,
    MacroVisibility,
    RecoveryGuideline,
    RootCause,
    RoutingRule,
    Team,
    Touchpoint,
)
from recovery.services import intake, lifecycle, macros, messages, routing

# A documented demo credential; production settings refuse demo accounts.
DEMO_PASSWORD = "demo"

TEAMS = [("billing", "Billing"), ("delivery", "Delivery & Returns"), ("digital", "Digital")]
CATEGORIES = [
    ("card-payments", "Card payments", "billing"),
    ("current-account", "Current account", "billing"),
    ("online-orders", "Online orders", "delivery"),
    ("mobile-app", "Mobile app", "digital"),
]
TOUCHPOINTS = [
    ("website", "Website"),
    ("mobile-app", "Mobile app"),
    ("call-centre", "Call centre"),
    ("branch", "Branch"),
    ("courier", "Courier"),
]
TAXONOMY = [
    ("billing", "Billing", None),
    ("billing.duplicate-charge", "Duplicate charge", "billing"),
    ("billing.wrong-amount", "Wrong amount charged", "billing"),
    ("billing.refund-delay", "Refund delayed", "billing"),
    ("delivery", "Delivery", None),
    ("delivery.late", "Late delivery", "delivery"),
    ("delivery.damaged", "Damaged in transit", "delivery"),
    ("service", "Service", None),
    ("service.rude-staff", "Staff attitude", "service"),
    ("service.no-callback", "Promised callback not made", "service"),
    ("product", "Product", None),
    ("product.defect", "Product defect", "product"),
    ("product.app-outage", "App outage", "product"),
    ("product.legacy-fee", "Legacy fee (retired)", "product"),
]
# The recovery guide (docs/recovery.md): the usual remedy for each cause the demo's
# complaints are resolved with, so the offer form has a suggestion to start from.
GUIDELINES = [
    # (root cause, type, amount, currency, note)
    ("billing.duplicate-charge", "refund", None, "", "Refund the second charge in full."),
    ("billing.wrong-amount", "refund", None, "", "Refund the difference that was overcharged."),
    ("billing.refund-delay", "goodwill", "10.00", "GBP", "For the wait, on top of the refund."),
    ("delivery.late", "refund", "4.99", "GBP", "Refund the delivery fee."),
    (
        "delivery.damaged",
        "replacement",
        None,
        "",
        "Send a new one; the broken one is not needed back.",
    ),
    ("service.no-callback", "apology", None, "", "Call back the same day and apologise."),
    (
        "service.rude-staff",
        "apology",
        None,
        "",
        "Apologise; the team leader talks to the colleague.",
    ),
    ("product.app-outage", "explanation", None, "", "Say what went wrong and when the fix ships."),
    ("product.defect", "replacement", None, "", "Replace it, or refund it if none is in stock."),
]
# The desk's macros (docs/web.md, *Macros*), written by the demo supervisor: two everyone
# shares and one or two per team, each suggested for a demo category and cause. No greeting:
# the email's template greets the customer above the text.
MACROS = [
    # (name, team or None for everyone, category, root cause, puts on hold, text, next steps)
    (
        "Acknowledge: looking into it",
        None,
        "",
        "",
        False,
        "Thank you for telling us about this, {customer_name}. Your complaint's reference is "
        "{reference}, and I am looking into it now.\n\n{agent_name}",
        "We will reply in full {resolve_by}. If you think of anything else, reply to this email.",
    ),
    (
        "Ask for the payment details",
        None,
        "",
        "",
        True,
        "To look into {reference} I need a little more from you, {customer_name}: the date "
        "and amount of the payment, and the last four digits of the card used. As soon as "
        "we have them we carry on, and we aim to reply {resolve_by}.\n\n{agent_name}",
        "",
    ),
    (
        "Duplicate charge refunded",
        "billing",
        "card-payments",
        "billing.duplicate-charge",
        False,
        "I have checked the payments on your card, {customer_name}: you were charged twice "
        "for the same order. I have refunded the second charge; it shows on your statement "
        "within three to five working days. I am sorry for the trouble.\n\n"
        "Reference: {reference}\n{agent_name}",
        "",
    ),
    (
        "Callback missed: apology",
        "billing",
        "current-account",
        "service.no-callback",
        False,
        "You were promised a call and nobody called, {customer_name}: I am sorry. I will "
        "call you myself today about {reference}, and we will have an answer for you "
        "{resolve_by}.\n\n{agent_name}",
        "",
    ),
    (
        "Damaged parcel: replacement sent",
        "delivery",
        "online-orders",
        "delivery.damaged",
        False,
        "I am sorry your order arrived damaged, {customer_name}. A replacement is on its way "
        "at our cost, and you do not need to send the broken item back.\n\n"
        "Reference: {reference}\n{agent_name}",
        "",
    ),
    (
        "Late delivery: fee refunded",
        "delivery",
        "online-orders",
        "delivery.late",
        False,
        "Your order reached you later than we promised, {customer_name}. I have refunded the "
        "delivery fee, and we are looking at why the courier was late.\n\n"
        "Reference: {reference}\n{agent_name}",
        "",
    ),
    (
        "App sign-out: fix on its way",
        "digital",
        "mobile-app",
        "product.app-outage",
        False,
        "Thank you for reporting the app signing you out, {customer_name}. It was a fault in "
        "our last update; the fix is being released, and until then signing in again keeps "
        "everything you had.\n\nReference: {reference}\n{agent_name}",
        "",
    ),
]
# Routing (docs/recovery.md): (position, name, team, match lists). What no rule takes goes
# to its category's team, else to Triage, which the demo's triage agent and supervisor work.
ROUTING_RULES = [
    (10, "Refunds keywords", "billing", {"keywords": ["refund", "charged twice", "money back"]}),
    (20, "App problems", "digital", {"keywords": ["app", "log in", "password"]}),
    (30, "Parcels by email", "delivery", {"channels": ["email"], "keywords": ["parcel"]}),
    (40, "Servicemembers", "billing", {"segments": ["Servicemember"]}),
]
STAFF = [
    ("agent1", roles.AGENT, ["billing"], "Alex", "Agent"),
    ("agent2", roles.AGENT, ["delivery"], "Bea", "Agent"),
    ("agent3", roles.AGENT, ["digital"], "Cai", "Agent"),
    ("agent4", roles.AGENT, ["triage"], "Dee", "Triage"),
    ("supervisor1", roles.SUPERVISOR, ["billing", "triage"], "Sam", "Supervisor"),
    ("manager1", roles.COMPLAINTS_MANAGER, [], "Morgan", "Manager"),
]
# Each story is told this many times, to customers in turn and ending in different states.
DEMO_ROUNDS = 6
CUSTOMERS = [
    ("customer1", "Casey Customer", "casey@example.com"),
    ("customer2", "Jordan Customer", "jordan@example.com"),
]
STORIES = [
    (
        "Charged twice for one order",
        "card-payments",
        "billing.duplicate-charge",
        "My card was charged twice for the same order on Saturday.",
        "Refund the second charge.",
    ),
    (
        "Parcel arrived crushed",
        "online-orders",
        "delivery.damaged",
        "The box was crushed and the vase inside is broken.",
        "Send a replacement.",
    ),
    (
        "App logs me out every day",
        "mobile-app",
        "product.app-outage",
        "Since the last update the app logs me out every morning.",
        "Fix the app.",
    ),
    (
        "Refund still not received",
        "card-payments",
        "billing.refund-delay",
        "I returned the jacket three weeks ago and have no refund.",
        "My money back.",
    ),
    (
        "Nobody called me back",
        "current-account",
        "service.no-callback",
        "I was promised a callback on Monday and nobody called.",
        "A call and an apology.",
    ),
    (
        "Delivery a week late",
        "online-orders",
        "delivery.late",
        "The order promised for Tuesday came the following Wednesday.",
        "Refund the delivery fee.",
    ),
    (
        # No category and no rule's words: routed to Triage.
        "A letter I cannot make sense of",
        "",
        "service.no-callback",
        "Your letter of 3 May mentions a fee I have never heard of, and nobody answers.",
        "An explanation.",
    ),
]
DEMO_MARK = "demo-"
# Real, public-domain complaint history (origin in demo/demo_data/README.md).
CFPB_HISTORY = Path(__file__).resolve().parents[2] / "demo_data" / "cfpb_complaints_head_2023.csv"


class Command(BaseCommand):
    help = "Create demo teams, accounts (password 'demo') and complaints. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show the import's progress bar."
        )

    def handle(self, *args, no_progress=False, verbosity=1, **options):
        if not settings.REDRESS_DEMO:
            raise CommandError(
                "Demo data is refused by these settings: demo accounts share the password "
                "'demo'. Set REDRESS_DEMO=1 (or DJANGO_DEBUG=1) only on a throwaway install."
            )
        # Each stage says what it does before it starts: nothing is silent for long.
        self._say(verbosity, "Demo accounts, teams and categories…")
        with transaction.atomic():
            staff, customers = self.accounts_and_reference_data()
        if Complaint.objects.filter(customer__external_id__startswith=DEMO_MARK).exists():
            self.stdout.write("Demo complaints already present; accounts and data checked.")
        else:
            self._say(verbosity, f"Seeding {DEMO_ROUNDS * len(STORIES)} demo complaints…")
            # One transaction: a failure part-way leaves no half-seeded demo behind.
            with transaction.atomic():
                count = self._complaints(staff, customers)
            self.stdout.write(self.style.SUCCESS(f"Seeded {count} demo complaints."))
        stream = options.get("stderr") or sys.stderr
        # The bar only when there is something to import: a restart re-checks in silence.
        first_import = not Complaint.objects.filter(source=cfpb.SOURCE).exists()
        show_bar = verbosity > 0 and not no_progress and first_import
        self._cfpb_history(ProgressBar(stream) if show_bar else None)

    def _say(self, verbosity: int, text: str) -> None:
        if verbosity > 0:
            self.stdout.write(text)
            self.stdout.flush()

    def _cfpb_history(self, bar: ProgressBar | None) -> None:
        """Real complaint history for the insights pages; the import is idempotent by id."""

        def progress(name: str, done: int, total: int) -> None:
            bar.update("Importing CFPB complaint history", done, total)

        summary = cfpb.import_files([CFPB_HISTORY], progress=progress if bar else None)
        if bar is not None:
            bar.finish()
        if summary.skipped:
            self.stderr.write(f"{summary.skipped} rows of {CFPB_HISTORY.name} were skipped.")
        if summary.created:
            self.stdout.write(
                self.style.SUCCESS(f"Imported {summary.created} CFPB complaints as history.")
            )

    def accounts_and_reference_data(self) -> tuple[dict, list[Customer]]:
        """Teams, categories, the taxonomy and the demo accounts (the world of docs/api.md)."""
        groups = roles.ensure_role_groups()
        teams = self._reference_data()
        staff = self._staff(groups, teams)
        self._recovery_guide()
        self._macros(staff["supervisor1"], teams)
        return staff, self._customers(groups)

    def _reference_data(self) -> dict[str, Team]:
        teams = {
            slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
            for slug, name in TEAMS
        }
        teams["triage"] = routing.triage_team()
        for position, name, team, lists in ROUTING_RULES:
            RoutingRule.objects.get_or_create(
                name=name, defaults={"position": position, "team": teams[team], **lists}
            )
        for slug, name, team in CATEGORIES:
            Category.objects.get_or_create(
                slug=slug, defaults={"name": name, "default_team": teams[team]}
            )
        for slug, name in TOUCHPOINTS:
            Touchpoint.objects.get_or_create(slug=slug, defaults={"name": name})
        for code, name, parent in TAXONOMY:
            RootCause.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "parent": RootCause.objects.get(code=parent) if parent else None,
                },
            )
        RootCause.objects.filter(code="product.legacy-fee", retired_at__isnull=True).update(
            retired_at=timezone.now()
        )
        return teams

    def _recovery_guide(self) -> None:
        # A cause with any row is left as it is: someone may have changed the guide.
        for code, type, amount, currency, note in GUIDELINES:
            cause = RootCause.objects.get(code=code)
            if not RecoveryGuideline.objects.filter(root_cause=cause).exists():
                RecoveryGuideline.objects.create(
                    root_cause=cause,
                    type=type,
                    amount=Decimal(amount) if amount else None,
                    currency=currency,
                    note=note,
                )

    def _macros(self, supervisor, teams: dict[str, Team]) -> None:
        # Through the service that checks the placeholders. A name that was ever used, an
        # archived macro's too, is left alone: archiving a demo macro keeps it archived.
        for name, team, category, cause, hold, body, next_steps in MACROS:
            if Macro.objects.filter(name=name).exists():
                continue
            root_cause = RootCause.objects.get(code=cause) if cause else None
            macros.macro_save(
                actor=supervisor,
                fields=macros.MacroFields(
                    name=name,
                    body=body,
                    next_steps=next_steps,
                    visibility=MacroVisibility.TEAM if team else MacroVisibility.EVERYONE,
                    team=teams[team] if team else None,
                    category=Category.objects.get(slug=category) if category else None,
                    root_cause=root_cause,
                    guideline=RecoveryGuideline.objects.filter(root_cause=root_cause).first()
                    if root_cause
                    else None,
                    puts_on_hold=hold,
                ),
            )

    def _user(self, username, groups, first_name="", last_name="", email=""):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={"first_name": first_name, "last_name": last_name, "email": email},
        )
        if created:
            user.password = self._demo_password_hash
        user.save()
        user.groups.add(*groups)
        return user

    @cached_property
    def _demo_password_hash(self) -> str:
        # Hashed once for every demo account: a deliberately slow hash per account was most
        # of a first start's seeding time, and the accounts share the password anyway.
        return make_password(DEMO_PASSWORD)

    def _staff(self, groups, teams) -> dict:
        staff = {}
        for username, role, team_slugs, first, last in STAFF:
            # Staff get the admin (is_staff); what they can do there follows their role.
            user = self._user(username, [groups[role], groups[roles.DEMO]], first, last)
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            for slug in team_slugs:
                teams[slug].members.add(user)
            staff[username] = user
        return staff

    def _customers(self, groups) -> list[Customer]:
        customers = []
        for index, (username, name, email) in enumerate(CUSTOMERS, start=1):
            user = self._user(username, [groups[roles.CUSTOMER], groups[roles.DEMO]], email=email)
            customer, _ = Customer.objects.get_or_create(
                external_id=f"{DEMO_MARK}{index}",
                defaults={"name": name, "email": email, "user": user},
            )
            customers.append(customer)
        return customers

    def _complaints(self, staff, customers) -> int:
        rng = random.Random(2026)  # fixed seed: every demo install looks the same
        manager = staff["manager1"]
        agent_by_team = {
            slug: staff[name]
            for name, role, slugs, *_ in STAFF
            if role == roles.AGENT
            for slug in slugs
        }
        target_states = ["received", "acknowledged", "resolved", "loop_closed", "withdrawn"]
        count = 0
        for round_number in range(DEMO_ROUNDS):
            for story_index, (subject, category, cause, text, remedy) in enumerate(STORIES):
                customer = customers[(round_number + story_index) % len(customers)]
                state = target_states[(round_number + story_index) % len(target_states)]
                received = timezone.now() - timedelta(
                    days=rng.randint(0, 40), hours=rng.randint(0, 23)
                )
                complaint, _ = intake.complaint_submit(
                    actor=manager,
                    intake=intake.ComplaintIntake(
                        subject=subject,
                        description=text,
                        remedy_sought=remedy,
                        channel=rng.choice(["web", "email", "phone", "chat"]),
                        category=category,
                        touchpoint=rng.choice([t[0] for t in TOUCHPOINTS]),
                        journey_stage=rng.choice(["purchase", "delivery", "billing", "usage"]),
                        severity=rng.choice(["low", "medium", "high"]),
                        customer=intake.CustomerDetails(
                            name=customer.name,
                            email=customer.email,
                            external_id=customer.external_id,
                        ),
                        received_at=received,
                    ),
                )
                actor = manager if story_index % 2 else agent_by_team[complaint.team.slug]
                self._advance(complaint, state, actor, cause)
                count += 1
        return count

    def _advance(self, complaint, state, actor, cause) -> None:
        if state == "withdrawn":
            lifecycle.complaint_withdraw(
                complaint=complaint, actor=actor, reason="Customer withdrew it by phone."
            )
            return
        if state == "received":
            return
        lifecycle.complaint_acknowledge(
            complaint=complaint,
            actor=actor,
            message=f"Thank you for telling us. Your reference is {complaint.reference}.",
            next_steps="We will look into it and reply within five working days.",
        )
        messages.message_add(
            complaint=complaint, actor=actor, body="Checked the payment logs.", internal=True
        )
        if state == "acknowledged":
            return
        lifecycle.complaint_resolve(
            complaint=complaint,
            actor=actor,
            outcome="upheld",
            summary="We found the fault and put it right.",
            root_causes=[cause],
        )
        if state == "resolved":
            return
        lifecycle.complaint_close_loop(
            complaint=complaint,
            actor=actor,
            what_we_found="A fault on our side.",
            what_we_did="We refunded you and apologised.",
            what_will_change="We fixed the process so it will not happen again.",
        )
