"""Answers rendered from a plan made once per class (``common.rest.fields.render_plan``) are
the answers DRF's own ``to_representation`` gives, on every read of the API."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework import serializers

from common.rest import fields
from escalation.services.ladder import complaint_escalate_by_hand
from recovery.services import messages, remedies, sla
from tests.conftest import acknowledge, api_client, close_loop, resolve

NOW = datetime(2026, 3, 10, 11, 30, tzinfo=UTC)


@pytest.fixture
def drf_rendering(monkeypatch):
    """Switch the plan off: every Representation renders field by field, as DRF does."""

    def switch_off():
        monkeypatch.setattr(
            fields.Representation, "to_representation", serializers.Serializer.to_representation
        )

    return switch_off


@pytest.fixture
def complaints(make_complaint, agent, supervisor, root_causes):
    """Complaints holding every kind of relation the answers show."""
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        received = make_complaint(subject="Only received")
        held = acknowledge(make_complaint(subject="Awaiting the customer"), agent)
        sla.complaint_set_awaiting_customer(
            complaint=held, actor=agent, awaiting=True, reason="Asked for the statement."
        )
        busy = acknowledge(make_complaint(subject="Busy"), agent)
        messages.message_add(complaint=busy, actor=agent, body="Looking into it.", internal=True)
        messages.message_add(complaint=busy, actor=agent, body="A reply.", internal=False)
        complaint_escalate_by_hand(complaint=busy, actor=supervisor, direction="up", reason="VIP")
        remedies.recovery_propose(
            complaint=busy, actor=agent, type="refund", amount="75.00", currency="GBP"
        )
        remedies.recovery_propose(complaint=busy, actor=agent, type="apology")
        closed = close_loop(
            resolve(acknowledge(make_complaint(subject="Closed"), agent), agent), agent
        )
    return [received, held, busy, closed]


def _reads(complaints, staff, customer):
    paths = [
        (staff, "/api/complaints/"),
        (staff, "/api/root-causes/"),
        (staff, "/api/regulatory-profiles/"),
        (staff, "/api/recoveries/awaiting-approval/"),
        (staff, "/api/notifications/"),
        (customer, "/api/complaints/"),
    ]
    for complaint in complaints:
        paths.append((staff, f"/api/complaints/{complaint.reference}/"))
        paths.append((customer, f"/api/complaints/{complaint.reference}/"))
        paths.append((staff, f"/api/complaints/{complaint.reference}/recoveries/"))
    return paths


def _answers(paths) -> list:
    answers = []
    with time_machine.travel(NOW, tick=False):
        for user, path in paths:
            answer = api_client(user).get(path)
            answers.append((path, answer.status_code, answer.json()))
    return answers


def test_every_read_answers_as_drf_renders_it(complaints, supervisor, customer_user, drf_rendering):
    paths = _reads(complaints, supervisor, customer_user)
    planned = _answers(paths)
    drf_rendering()
    assert _answers(paths) == planned
    assert all(status == 200 for _path, status, _body in planned), [
        (path, status) for path, status, _ in planned if status != 200
    ]
    # The reads hold what the plan must render: nested users, lists, method fields, nulls.
    busy = next(body for path, _, body in planned if path.endswith(f"{complaints[2].reference}/"))
    assert busy["escalations"] and busy["escalations"][0]["actor"]["username"] == "supervisor"
    assert [message["body"] for message in busy["messages"]][-2:] == [
        "Looking into it.",
        "A reply.",
    ]
    assert any(clock["seconds_left"] is not None for clock in busy["clocks"])
    assert busy["assignee"] is None or "username" in busy["assignee"]


def test_a_field_the_plan_does_not_know_is_rendered_by_drf():
    class Odd(fields.Representation):
        name = serializers.CharField()
        tags = serializers.ListField(child=serializers.CharField())

    class Holder(fields.Representation):
        odd = Odd()
        count = serializers.IntegerField()

    assert fields.render_plan(Odd) is None
    assert fields.render_plan(Holder) is None
    assert Holder({"odd": {"name": "a", "tags": [1, "b"]}, "count": "3"}).data == {
        "odd": {"name": "a", "tags": ["1", "b"]},
        "count": 3,
    }


def test_the_plan_keeps_drfs_skips_defaults_and_nulls():
    class Ref(fields.Representation):
        id = serializers.IntegerField()

    class Shape(fields.Representation):
        ref = Ref(allow_null=True)
        refs = Ref(many=True)
        label = serializers.CharField(source="inner.label", default=None, allow_null=True)
        optional = serializers.CharField(required=False)
        computed = serializers.SerializerMethodField()

        def get_computed(self, value) -> str:
            return f"{self.context['prefix']}-{value['refs'][0]['id']}"

    assert fields.render_plan(Shape) is not None
    data = {"ref": None, "refs": [{"id": "7"}], "inner": {}}
    planned = Shape(data, context={"prefix": "p"}).data
    assert planned == {"ref": None, "refs": [{"id": 7}], "label": None, "computed": "p-7"}
    assert serializers.Serializer.to_representation(Shape(context={"prefix": "p"}), data) == planned


def test_dates_render_in_the_current_time_zone_as_drf_renders_them():
    class Dated(fields.Representation):
        at = serializers.DateTimeField()
        inner_at = serializers.DateTimeField(source="inner.at")
        naive = serializers.DateTimeField()

    assert [entry[0] for entry in fields.render_plan(Dated)] == [fields._DATETIME] * 3
    data = {
        "at": datetime(2026, 7, 1, 12, tzinfo=UTC),
        "inner": {"at": datetime(2026, 1, 1, 9, 15, 30, 250, tzinfo=UTC)},
        "naive": datetime(2026, 7, 1, 12),  # noqa: DTZ001 -- a naive value on purpose
    }
    seen = {}
    for zone in ("UTC", "Europe/London", "America/New_York"):
        with timezone.override(zone):
            seen[zone] = Dated(data).data
            assert seen[zone] == serializers.Serializer.to_representation(Dated(), data)
    assert seen["UTC"]["at"] == "2026-07-01T12:00:00Z"
    assert seen["Europe/London"]["at"] == "2026-07-01T13:00:00+01:00"
    assert seen["America/New_York"]["inner_at"] == "2026-01-01T04:15:30.000250-05:00"
    assert seen["Europe/London"]["naive"] == "2026-07-01T12:00:00+01:00"


def test_a_value_the_field_would_return_unchanged_is_not_handed_to_it(monkeypatch):
    # A long timeline rendered each event's text and numbers through str() and int() of
    # values that were already str and int, and each nested user through its serializer's
    # entry point: the plan passes such values on, and renders a child by its own plan.
    class Ref(fields.Representation):
        id = serializers.IntegerField()

    class Shape(fields.Representation):
        name = serializers.CharField()
        count = serializers.IntegerField()
        document = serializers.JSONField()
        refs = Ref(many=True)

    handed, rendered = [], []
    to_text = serializers.CharField.to_representation
    monkeypatch.setattr(
        serializers.CharField,
        "to_representation",
        lambda self, value: handed.append(value) or to_text(self, value),
    )
    render = fields.Representation.to_representation
    monkeypatch.setattr(
        fields.Representation,
        "to_representation",
        lambda self, instance: rendered.append(type(self)) or render(self, instance),
    )
    data = {"name": "a", "count": 3, "document": {"b": [1]}, "refs": [{"id": 7}, {"id": 8}]}

    assert Shape(data).data == data
    assert handed == [] and rendered == [Shape]
    assert Shape(data | {"name": 5}).data["name"] == "5"
    assert handed == [5]
