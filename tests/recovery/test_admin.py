"""The complaint admin: complaints are added and moved through their lifecycle by the
services only; the admin shows them and lets an administrator correct descriptive fields.

Personas: ``root``, a superuser signed in to the admin; ``agent`` acknowledged the complaint.
"""

import pytest

from notifications.models import Outbox
from recovery.models import Complaint, ComplaintEvent
from tests.admin_forms import page_data, page_errors
from tests.conftest import acknowledge
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIFECYCLE_FIELDS = {"reference", "state", "customer", "outcome", "acknowledged_at", "resolved_at"}


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_no_complaint_is_added_in_the_admin(root):
    assert root.get("/admin/recovery/complaint/add/").status_code == 403
    assert root.post("/admin/recovery/complaint/add/", {"subject": "Made up"}).status_code == 403
    assert not Complaint.objects.exists()


def test_a_correction_saves_and_leaves_the_lifecycle_as_the_services_left_it(
    root, make_complaint, agent
):
    complaint = acknowledge(make_complaint(), agent)
    change = f"/admin/recovery/complaint/{complaint.pk}/change/"
    page = root.get(change)
    assert LIFECYCLE_FIELDS.isdisjoint(page.context["adminform"].form.fields)
    timeline = list(ComplaintEvent.objects.filter(complaint=complaint).values_list("id", "type"))
    data = page_data(page, fill=None, add_inline_rows=False)

    answer = root.post(
        change,
        {
            **data,
            "subject": "Charged twice for one order",
            # Posted anyway, as a tampered form could: read-only fields are not read.
            "state": "resolved",
            "reference": "RDR-0000-000000",
            "outcome": "upheld",
        },
    )

    assert answer.status_code == 302, page_errors(answer)
    saved = Complaint.objects.get(pk=complaint.pk)
    assert saved.subject == "Charged twice for one order"
    assert (saved.state, saved.reference, saved.outcome) == (
        "acknowledged",
        complaint.reference,
        "",
    )
    # The correction is on the timeline, written by the service with its outbox row.
    added = ComplaintEvent.objects.filter(complaint=saved).exclude(id__in=[i for i, _ in timeline])
    assert [(event.type, event.parameters) for event in added] == [
        (
            "details_corrected",
            {"changes": {"subject": {"before": "Charged twice", "after": saved.subject}}},
        )
    ]
    assert Outbox.objects.filter(
        event_type="complaint.details_corrected", payload__timeline_event_id=added.get().pk
    ).exists()
