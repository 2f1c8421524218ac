"""``seed_demo`` gives a newcomer's desk macros and a recovery guide, and seeding twice
leaves the same data as seeding once.

Personas: ``supervisor1`` (the demo's supervisor) wrote the macros; the demo's agents use
them on the seeded complaints of their teams.
"""

import pytest
from django.core.management import call_command
from django.test import override_settings

from demo.management.commands import seed_demo
from notifications import delivery
from recovery.models import (
    Category,
    Complaint,
    Customer,
    Macro,
    MacroVisibility,
    RecoveryGuideline,
    RootCause,
    Team,
)
from recovery.services.macros import PLACEHOLDERS, unknown_placeholders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_seed(monkeypatch):
    # The CFPB history (two thousand complaints) is imported by id and tested on its own
    # (tests/imports); here it would only slow each seeding down.
    monkeypatch.setattr(seed_demo.Command, "_cfpb_history", lambda self, bar: None)
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: None)


def seed() -> None:
    with override_settings(REDRESS_DEMO=True):
        call_command("seed_demo", verbosity=0, no_progress=True)


def snapshot() -> dict:
    return {
        "macros": list(
            Macro.objects.order_by("name").values_list(
                "name",
                "body",
                "next_steps",
                "visibility",
                "team__slug",
                "category__slug",
                "root_cause__code",
                "guideline_id",
                "puts_on_hold",
                "archived_at",
            )
        ),
        "guide": list(
            RecoveryGuideline.objects.order_by("id").values_list(
                "id", "root_cause__code", "severity", "type", "amount", "currency", "note"
            )
        ),
        "complaints": Complaint.objects.count(),
        "customers": Customer.objects.count(),
        "teams": Team.objects.count(),
        "categories": Category.objects.count(),
        "causes": RootCause.objects.count(),
    }


def test_seeding_twice_leaves_the_same_data():
    seed()
    once = snapshot()

    seed()

    assert snapshot() == once
    assert once["macros"] and once["guide"]


def test_the_desk_has_shared_and_team_macros_for_the_seeded_categories():
    seed()
    live = list(
        Macro.objects.filter(archived_at__isnull=True).select_related(
            "team", "category", "created_by"
        )
    )

    assert {m.visibility for m in live} == {MacroVisibility.EVERYONE, MacroVisibility.TEAM}
    assert {m.team.slug for m in live if m.team} == {"billing", "delivery", "digital"}
    # Each seeded category has a macro suggested for it.
    assert {m.category.slug for m in live if m.category} == {
        slug for slug, _name, _team in seed_demo.CATEGORIES
    }
    text = " ".join(m.body + m.next_steps for m in live)
    assert all(f"{{{name}}}" in text for name in PLACEHOLDERS)
    assert not unknown_placeholders(text)
    # No greeting: the email's template greets the customer above the macro's words.
    assert not any(m.body.startswith(("Dear", "Hello", "Hi ")) for m in live)
    assert {m.created_by.username for m in live} == {"supervisor1"}


def test_every_cause_the_demo_resolves_with_has_a_guideline():
    seed()
    guided = set(RecoveryGuideline.objects.values_list("root_cause__code", flat=True))

    assert {cause for _s, _c, cause, _t, _r in seed_demo.STORIES} <= guided
    # A team macro for a cause names that cause's guideline.
    for macro in Macro.objects.exclude(root_cause=None):
        assert macro.guideline.root_cause_id == macro.root_cause_id


def test_seeding_again_keeps_what_was_changed():
    seed()
    Macro.objects.filter(name="Late delivery: fee refunded").update(archived_at="2026-01-01T00:00Z")
    guideline = RecoveryGuideline.objects.get(root_cause__code="delivery.late")
    guideline.amount = "6.00"
    guideline.save()

    seed()

    assert Macro.objects.filter(name="Late delivery: fee refunded").count() == 1
    assert not Macro.objects.filter(
        name="Late delivery: fee refunded", archived_at__isnull=True
    ).exists()
    assert RecoveryGuideline.objects.get(root_cause__code="delivery.late").amount == 6
