"""Input serializers copy their declared fields more cheaply than DRF (a shallow copy of a
plain field): the same validation, and no field shared between two serializers."""

import pytest
from rest_framework import serializers

from api.serializers import ComplaintIntakeSerializer, ResolveSerializer
from common.rest.fields import StrictSerializer

BODIES = [
    {},
    {"subject": "Charged twice", "description": "Twice.", "customer": {"name": "Ada"}},
    {"subject": "Two\nlines", "description": "x" * 60_000, "channel": "pigeon"},
    {"subject": 42, "description": ["not text"], "occurred_on": "yesterday"},
    {"subject": "Fine", "description": "Fine", "severity": "apocalyptic", "extra": 1},
    {"subject": "Fine", "description": "Fine", "sent_to_company_at": "2026-13-45T99:00"},
]


def _outcomes(serializer_class, bodies):
    outcomes = []
    for body in bodies:
        serializer = serializer_class(data=body)
        valid = serializer.is_valid()
        outcomes.append((valid, serializer.errors if not valid else serializer.validated_data))
    return outcomes


@pytest.mark.django_db
def test_validation_is_drfs_own(monkeypatch):
    resolve_bodies = [
        {"transition": "resolve", "outcome": "upheld", "summary": "Done", "root_causes": []},
        {"transition": "resolve", "outcome": "maybe", "root_causes": "one"},
    ]
    ours = (
        _outcomes(ComplaintIntakeSerializer, BODIES),
        _outcomes(ResolveSerializer, resolve_bodies),
    )
    monkeypatch.setattr(StrictSerializer, "get_fields", serializers.Serializer.get_fields)
    drfs = (
        _outcomes(ComplaintIntakeSerializer, BODIES),
        _outcomes(ResolveSerializer, resolve_bodies),
    )
    assert ours == drfs
    assert not ours[0][0][0] and not ours[0][2][0]  # the bodies do exercise refusals


def test_two_serializers_share_no_field():
    first, second = ComplaintIntakeSerializer(data={}), ComplaintIntakeSerializer(data={})
    for name, field in first.fields.items():
        other = second.fields[name]
        assert field is not other
        assert field.parent is first and other.parent is second
        assert field is not ComplaintIntakeSerializer._declared_fields[name]
