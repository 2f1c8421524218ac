"""The resolve form's root causes as served, before any script: a select for the primary
cause and checkboxes for the others (no Ctrl-click list), which submit on their own; and the
recently used causes the picker offers first (desk.selectors.recent_root_causes).

Personas: ``agent`` resolves; ``teammate`` is on the same team; ``other_agent`` on another.
"""

import re

import pytest

from desk.selectors import RECENT_ROOT_CAUSES, recent_root_causes
from tests.conftest import acknowledge, resolve
from tests.desk.conftest import signed_in
from tests.factories import RootCauseFactory

pytestmark = pytest.mark.django_db


def page_of(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/"


def test_contributing_causes_are_checkboxes_that_submit_without_a_script(
    agent, make_complaint, root_causes
):
    complaint = acknowledge(make_complaint(), agent)
    client = signed_in(agent)
    page = client.get(page_of(complaint)).content.decode()
    assert not re.search(r"<select[^>]*multiple", page)
    assert (
        'type="checkbox" name="resolve-contributing_root_causes" value="billing.refund-delay"'
        in (page)
    )
    assert "Ctrl" not in page

    # A form error keeps what was ticked, ticked.
    answer = client.post(
        f"{page_of(complaint)}resolve/",
        {
            "resolve-outcome": "upheld",
            "resolve-primary_root_cause": "billing.duplicate-charge",
            "resolve-contributing_root_causes": ["billing.refund-delay"],
        },
    )
    assert answer.status_code == 400
    assert re.search(r'value="billing.refund-delay" id="[^"]+" checked', answer.content.decode())


def test_retired_causes_are_not_offered(agent, make_complaint, root_causes):
    from django.utils import timezone

    RootCauseFactory(
        code="billing.old-fee",
        name="Old fee",
        parent=root_causes["billing"],
        retired_at=timezone.now(),
    )
    complaint = acknowledge(make_complaint(), agent)
    page = signed_in(agent).get(page_of(complaint)).content.decode()
    assert "billing.old-fee" not in page


def test_recently_used_causes_are_the_agents_then_the_teams(
    agent, teammate, other_agent, make_complaint, root_causes, other_team
):
    more = {
        code: RootCauseFactory(code=code, name=code.split(".")[1], parent=root_causes["billing"])
        for code in ("billing.a", "billing.b", "billing.c")
    }
    assert more
    resolve(acknowledge(make_complaint(), agent), agent, causes=("billing.a",))
    resolve(acknowledge(make_complaint(), teammate), teammate, causes=("billing.b", "billing.a"))
    resolve(
        acknowledge(make_complaint(routed_to=other_team), other_agent),
        other_agent,
        causes=("billing.c",),
    )
    resolve(acknowledge(make_complaint(), agent), agent, causes=("billing.duplicate-charge",))

    recent = recent_root_causes(user=agent, team_id=make_complaint().team_id)

    # The agent's own, newest first; then the team's; never another team's.
    assert recent == ["billing.duplicate-charge", "billing.a", "billing.b"]
    assert len(recent) <= RECENT_ROOT_CAUSES


def test_the_page_offers_them_to_the_picker(agent, teammate, make_complaint, root_causes):
    resolve(acknowledge(make_complaint(), teammate), teammate, causes=("billing.refund-delay",))
    complaint = acknowledge(make_complaint(), agent)
    page = signed_in(agent).get(page_of(complaint)).content.decode()
    assert 'data-recent="billing.refund-delay"' in page
    assert "root-cause-picker.js" in page
