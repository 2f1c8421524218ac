"""The desk's timeline says what each change was, not only who made it: to whom a complaint
was assigned, which details were corrected, to which level it was escalated."""

import re

import pytest

from escalation.services import ladder
from recovery.services import corrections, sla
from tests.conftest import acknowledge
from tests.desk.conftest import signed_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def timeline_lines(client, complaint) -> list[str]:
    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    section = page[page.index('id="timeline"') :]
    section = section[: section.index("</ol>")]
    return [re.sub(r"<[^>]+>", "", item).strip() for item in section.split("<li>")[1:]]


def test_each_change_says_what_it_was(make_complaint, agent, supervisor):
    complaint = acknowledge(make_complaint(), agent)
    agent.first_name, agent.last_name = "Ann", "O'Neil <b>"
    agent.save()
    sla.complaint_assign(complaint=complaint, assignee=agent, actor=supervisor)
    sla.complaint_assign(complaint=complaint, assignee=None, actor=supervisor)
    corrections.complaint_correct_details(
        complaint=complaint,
        actor=UserFactory(username="root", is_superuser=True),
        changes={"subject": "Charged two times for one order", "remedy_sought": "A refund"},
    )
    ladder.complaint_escalate_by_hand(
        complaint=complaint, actor=supervisor, direction="up", reason="Customer upset"
    )

    lines = timeline_lines(signed_in(supervisor), complaint)
    text = "\n".join(lines)

    assert "Assigned to Ann O&#x27;Neil &lt;b&gt;" in text
    assert "Unassigned (back to the team queue)" in text
    assert "Details corrected: remedy sought, subject" in text
    assert "Escalated to level 1" in text
