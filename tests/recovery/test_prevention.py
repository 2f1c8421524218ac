"""Corrective and preventive actions: opened by managers, moved forward only, verdict noted."""

import pytest

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.services.prevention import (
    corrective_action_link,
    corrective_action_open,
    corrective_action_set_status,
)
from tests.conftest import api_client


@pytest.fixture
def capa(manager, supervisor, root_causes, make_complaint):
    return corrective_action_open(
        actor=manager,
        title="Stop gateway retries on settled payments",
        root_causes=["billing.duplicate-charge"],
        owner=supervisor.username,
        complaints=[make_complaint().reference],
    )


def test_opening_links_causes_and_complaints_on_their_timelines(capa, supervisor):
    assert [c.code for c in capa.root_causes.all()] == ["billing.duplicate-charge"]
    complaint = capa.complaints.get()
    event = complaint.events.get(type="corrective_action_linked")
    assert event.parameters["corrective_action_id"] == capa.pk


def test_only_managers_open(agent, supervisor, root_causes):
    with pytest.raises(PermissionDenied):
        corrective_action_open(
            actor=agent, title="x", root_causes=["billing"], owner=supervisor.username
        )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"root_causes": []}, "root_causes"),
        ({"root_causes": ["nope"]}, "root_causes"),
        ({"owner": "ghost"}, "owner"),
        ({"title": " "}, "title"),
        ({"complaints": ["RDR-1999-000001"]}, "complaints"),
        ({"kind": "magic"}, "kind"),
    ],
)
def test_bad_input_names_the_field(manager, supervisor, root_causes, fields, field):
    arguments = {
        "actor": manager,
        "title": "Fix it",
        "root_causes": ["billing"],
        "owner": supervisor.username,
        **fields,
    }
    with pytest.raises(ValidationFailed) as refused:
        corrective_action_open(**arguments)
    assert field in refused.value.details


def test_status_moves_forward_and_done_stamps_the_date(capa, supervisor, agent):
    with pytest.raises(TransitionNotAllowed, match="cannot become verified"):
        corrective_action_set_status(action_id=capa.pk, actor=supervisor, status="verified")
    with pytest.raises(PermissionDenied):
        corrective_action_set_status(action_id=capa.pk, actor=agent, status="in_progress")
    corrective_action_set_status(action_id=capa.pk, actor=supervisor, status="in_progress")
    done = corrective_action_set_status(action_id=capa.pk, actor=supervisor, status="done")
    assert done.done_at is not None
    with pytest.raises(ValidationFailed, match="effectiveness"):
        corrective_action_set_status(action_id=capa.pk, actor=supervisor, status="ineffective")
    verdict = corrective_action_set_status(
        action_id=capa.pk, actor=supervisor, status="ineffective", note="Rate unchanged."
    )
    assert verdict.verified_at is not None and verdict.verification_note == "Rate unchanged."
    again = corrective_action_set_status(action_id=capa.pk, actor=supervisor, status="in_progress")
    assert again.status == "in_progress"


def test_linking_twice_records_once(capa, manager):
    reference = capa.complaints.get().reference
    corrective_action_link(action_id=capa.pk, actor=manager, complaints=[reference])
    assert capa.complaints.get().events.filter(type="corrective_action_linked").count() == 1


def test_api_round_trip_and_errors(manager, supervisor, agent, root_causes):
    client = api_client(manager)
    created = client.post(
        "/api/corrective-actions/",
        {"title": "Fix", "root_causes": ["billing"], "owner": supervisor.username},
        format="json",
    )
    assert created.status_code == 201, created.content
    capa_id = created.json()["id"]
    assert created.json()["root_causes"] == ["billing"]
    moved = client.post(
        f"/api/corrective-actions/{capa_id}/status/", {"status": "done"}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["done_at"]
    assert (
        client.post(
            f"/api/corrective-actions/{capa_id}/status/", {"status": "open"}, format="json"
        ).status_code
        == 409
    )
    assert client.get("/api/corrective-actions/?status=bogus").status_code == 400
    assert api_client(agent).get("/api/corrective-actions/").status_code == 403
    assert (
        client.post(
            "/api/corrective-actions/99999/status/", {"status": "done"}, format="json"
        ).status_code
        == 404
    )
