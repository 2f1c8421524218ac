"""Correcting what a complaint says: descriptive fields only, each change on the timeline.

Personas: ``root`` may change complaints (a superuser); ``agent`` works the complaint but
corrects nothing outside the desk's own steps.
"""

import pytest

from common.errors import PermissionDenied, ValidationFailed
from recovery.models import Complaint, ComplaintEvent
from recovery.services.corrections import complaint_correct_details
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_workflow_fields_are_refused_by_name_and_nothing_is_written(make_complaint, root):
    complaint = make_complaint()
    events = ComplaintEvent.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        complaint_correct_details(
            complaint=complaint,
            actor=root,
            changes={"subject": "Fixed", "state": "resolved", "escalation_level": 3},
        )

    assert set(refused.value.details) == {"state", "escalation_level"}
    assert Complaint.objects.get(pk=complaint.pk).subject == "Charged twice"
    assert ComplaintEvent.objects.count() == events


def test_an_actor_without_the_change_permission_is_refused(make_complaint, agent):
    complaint = make_complaint()

    with pytest.raises(PermissionDenied):
        complaint_correct_details(complaint=complaint, actor=agent, changes={"subject": "Mine"})

    assert Complaint.objects.get(pk=complaint.pk).subject == "Charged twice"


def test_an_unchanged_value_writes_no_event(make_complaint, root):
    complaint = make_complaint()
    events = ComplaintEvent.objects.count()

    complaint_correct_details(complaint=complaint, actor=root, changes={"subject": "Charged twice"})

    assert ComplaintEvent.objects.count() == events
