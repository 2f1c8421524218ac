"""Whom a complaint may be assigned to: someone who works it, whichever path assigns it.

Personas: ``supervisor`` (of Billing) hands work out; ``agent`` works Billing;
``other_agent`` works Delivery; ``manager`` sees every complaint.
"""

import pytest

from common.errors import ValidationFailed
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import sla

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_complaint_is_not_assigned_to_another_teams_agent(
    supervisor, other_agent, make_complaint
):
    complaint = make_complaint()

    for assign in (sla.complaint_assign, sla.complaint_hand_out):
        with pytest.raises(ValidationFailed) as refused:
            assign(complaint=complaint, assignee=other_agent, actor=supervisor)
        assert refused.value.message == "other_agent does not work in the Billing team."
        assert refused.value.details == {"assignee": [refused.value.message]}

    assert Complaint.objects.get(pk=complaint.pk).assignee_id is None
    assert not ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED)


def test_a_team_member_or_someone_who_sees_every_complaint_may_be_given_it(
    supervisor, agent, manager, make_complaint
):
    complaint = make_complaint()

    sla.complaint_hand_out(complaint=complaint, assignee=agent, actor=supervisor)
    assert Complaint.objects.get(pk=complaint.pk).assignee_id == agent.pk
    sla.complaint_assign(complaint=complaint, assignee=manager, actor=supervisor)
    assert Complaint.objects.get(pk=complaint.pk).assignee_id == manager.pk


def test_a_complaint_with_no_team_yet_may_go_to_any_working_staff(
    supervisor, other_agent, make_complaint
):
    complaint = make_complaint()
    Complaint.objects.filter(pk=complaint.pk).update(team=None)
    complaint.refresh_from_db()

    sla.complaint_assign(complaint=complaint, assignee=other_agent, actor=supervisor)

    assert Complaint.objects.get(pk=complaint.pk).assignee_id == other_agent.pk
