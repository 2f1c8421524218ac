"""A complaint whose cause has no recovery guideline is not asked why its offer departs
from one, and keeps no such reason; with a guideline, the reason is asked and kept.

Personas (tests/conftest.py): ``agent`` works the complaint and offers the recovery.
"""

from decimal import Decimal

import pytest

from recovery.models import RecoveryAction, RecoveryGuideline
from tests.conftest import acknowledge, resolve
from tests.desk.conftest import signed_in


@pytest.fixture
def complaint(make_complaint, agent):
    return acknowledge(make_complaint(), agent)


def offer_url(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/recovery/"


def test_no_departure_reason_without_a_guideline(complaint, agent):
    client = signed_in(agent)
    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert "recovery-deviation_reason" not in page
    assert "Why not what the guide suggests?" not in page

    answer = client.post(
        offer_url(complaint),
        {
            "recovery-type": "goodwill",
            "recovery-amount": "10.00",
            "recovery-currency": "GBP",
            "recovery-deviation_reason": "a reason for nothing",
        },
    )

    assert answer.status_code == 302
    (action,) = RecoveryAction.objects.all()
    assert action.amount == Decimal("10.00")
    assert action.deviation_reason == ""


def test_a_guideline_asks_why_the_offer_departs_from_it(complaint, agent, root_causes):
    resolve(complaint, agent, causes=["billing.duplicate-charge"])
    RecoveryGuideline.objects.create(
        root_cause=root_causes["billing"], type="refund", amount=Decimal("20.00"), currency="GBP"
    )
    client = signed_in(agent)
    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert 'name="recovery-deviation_reason"' in page

    answer = client.post(
        offer_url(complaint),
        {"recovery-type": "apology", "recovery-deviation_reason": "They asked for one."},
    )

    assert answer.status_code == 302
    assert RecoveryAction.objects.get().deviation_reason == "They asked for one."
