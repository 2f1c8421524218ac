"""Representations of clocks and escalations, embedded in the complaint's API shape, and of
the regulatory profiles a complaint may be put under."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.rest.fields import Representation, UserRefSerializer
from escalation import deadlines
from escalation.models import Clock, ClockState, Escalation
from escalation.services.clocks import clock_calendar


class ClockSerializer(Representation, serializers.ModelSerializer):
    # None once the policy is gone, and for statutory obligations, which have none.
    policy = serializers.CharField(source="policy.name", default=None, allow_null=True)
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


class EscalationSerializer(Representation, serializers.ModelSerializer):
    owner = UserRefSerializer(allow_null=True)
    actor = UserRefSerializer(allow_null=True)
    # None for an escalation made by hand, which no clock set off.
    clock = serializers.CharField(source="clock.kind", default=None, allow_null=True)

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


# -- regulatory profiles (escalation.regulatory: data, read only) -----------------------------


class RegionSerializer(Representation):
    code = serializers.CharField()
    name = serializers.CharField()
    time_zone = serializers.CharField()
    holiday_country = serializers.CharField(help_text="ISO 3166 code of the public holidays.")
    holiday_subdivision = serializers.CharField(allow_null=True)
    default = serializers.SerializerMethodField()

    def get_default(self, region) -> bool:
        return region is self.context["profile"].default_region


class ObligationSerializer(Representation):
    clock = serializers.CharField(help_text="The clock kind it times.")
    rule = serializers.CharField(
        help_text="How it counts: calendar_days, business_days_close or hours_or_business_day."
    )
    amount = serializers.IntegerField(help_text="Days, business days or hours.")
    citation = serializers.CharField(help_text="The paragraph it comes from.")
    title = serializers.CharField()
    escalates = serializers.BooleanField()
    starts = serializers.CharField(help_text="received, or sent_to_company (by a regulator).")


class LetterSerializer(Representation):
    kind = serializers.CharField(help_text="The message kind.")
    clock = serializers.CharField(help_text="The obligation it acts on.")
    effect = serializers.ChoiceField(choices=["meets", "notes"])
    citation = serializers.CharField()
    title = serializers.CharField()


class RegulatoryProfileSerializer(Representation):
    code = serializers.CharField()
    name = serializers.CharField()
    regulator = serializers.CharField()
    jurisdiction = serializers.CharField()
    applies_to = serializers.CharField(help_text="Which complaints the profile is for.")
    requires_region = serializers.BooleanField(
        help_text="A complaint must name one of the regions as its jurisdiction."
    )
    regions = serializers.SerializerMethodField()
    obligations = ObligationSerializer(many=True, source="deadlines")
    extended_obligations = ObligationSerializer(many=True, source="extended_deadlines")
    extension_ground = serializers.CharField(
        help_text="What moves obligations to their extended form: holding_reply, "
        "provisional_credit, or empty."
    )
    letters = LetterSerializer(many=True)

    @extend_schema_field(RegionSerializer(many=True))
    def get_regions(self, profile) -> list[dict]:
        # Each region says whether it is the profile's default, so it needs the profile.
        return RegionSerializer(profile.regions, many=True, context={"profile": profile}).data
