"""Representations of clocks and escalations, embedded in the complaint's API shape."""

from django.utils import timezone
from rest_framework import serializers

from escalation import deadlines
from escalation.models import Clock, ClockState, Escalation
from escalation.services.clocks import clock_calendar
from recovery.api.fields import UserRefSerializer


class ClockSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.name", default=None)
    calendar = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()
    statutory = serializers.BooleanField(read_only=True)
    explanation = serializers.SerializerMethodField()

    class Meta:
        model = Clock
        fields = [
            "kind",
            "state",
            "cycle",
            "basis",
            "target_seconds",
            "started_at",
            "due_at",
            "warn_at",
            "warned_at",
            "breached_at",
            "stopped_at",
            "paused_at",
            "paused_seconds",
            "seconds_left",
            "escalation_level",
            "next_escalation_at",
            "policy",
            "statutory",
            "regulatory_profile",
            "rule",
            "jurisdiction",
            "calendar",
            "explanation",
        ]

    def get_calendar(self, clock) -> str | None:
        if clock.calendar_id:
            return clock.calendar.name
        if not clock.regulatory_profile:
            return None
        return f"{clock.regulatory_profile} business days ({clock.jurisdiction or 'default'})"

    def get_seconds_left(self, clock) -> float | None:
        """Time left in the clock's own basis (business seconds for business clocks)."""
        if clock.state == ClockState.PAUSED:
            return clock.seconds_left_when_paused
        if clock.state != ClockState.RUNNING or clock.due_at is None:
            return None
        now = timezone.now()
        calendar = clock_calendar(clock, now, clock.due_at)
        return round(deadlines.between(now, clock.due_at, basis=clock.basis, calendar=calendar), 1)

    def get_explanation(self, clock) -> str:
        source = (
            f"statutory rule {clock.rule} of regulatory profile {clock.regulatory_profile}"
            if clock.regulatory_profile
            else f"internal target of policy {clock.policy.name!r}"
            if clock.policy_id
            else "an internal target of a policy since changed"
        )
        hours = clock.target_seconds / 3600
        basis = "business hours" if clock.basis == "business" else "hours"
        parts = [f"{hours:g} {basis} from {source}, counted on {self.get_calendar(clock)}"]
        if clock.paused_seconds:
            parts.append(f"paused for {clock.paused_seconds / 3600:.1f} {basis} so far")
        if clock.state == ClockState.PAUSED:
            parts.append("paused while awaiting the customer")
        return "; ".join(parts) + "."


class EscalationSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(allow_null=True)
    actor = UserRefSerializer(allow_null=True)
    clock = serializers.CharField(source="clock.kind", default=None)

    class Meta:
        model = Escalation
        fields = [
            "level",
            "previous_level",
            "target",
            "owner",
            "actor",
            "manual",
            "clock",
            "reason",
            "created_at",
        ]
