"""API shapes: input validation field by field, and representations of complaints."""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.rest.fields import (
    CalendarDateField,
    Representation,
    SingleLineCharField,
    StrictSerializer,
    UserRefSerializer,
)
from escalation.regulatory import PROFILE_CHOICES
from escalation.serializers import ClockSerializer, EscalationSerializer
from recovery import field_rules, roles
from recovery.models import (
    ROOT_CAUSE_CODE_VALIDATOR,
    Channel,
    Complaint,
    ComplaintEvent,
    Message,
    Outcome,
    Priority,
    RootCause,
    Severity,
    State,
)
from recovery.models.complaints import DESCRIPTION_MAX_CHARS, MESSAGE_MAX_CHARS
from recovery.services.intake import ComplaintIntake, CustomerDetails
from recovery.services.lifecycle import TRANSITIONS

LANGUAGE_CODES = [code for code, _ in settings.LANGUAGES]


class RegulatoryProfileField(serializers.ChoiceField):
    """A known regulatory profile code, or blank for none; an unknown one names the known."""

    def __init__(self, **kwargs):
        super().__init__(choices=[("", "none"), *PROFILE_CHOICES], allow_blank=True, **kwargs)
        known = ", ".join(code for code, _ in PROFILE_CHOICES)
        self.error_messages["invalid_choice"] = (
            f'"{{input}}" is not a known regulatory profile; known: {known}.'
        )


class CustomerInputSerializer(StrictSerializer):
    # Names and subjects reach email greetings and headers: one line each (common.text).
    name = SingleLineCharField(max_length=200)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    preferred_language = serializers.ChoiceField(
        choices=LANGUAGE_CODES, required=False, default="en"
    )

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("phone") and not attrs.get("external_id"):
            raise serializers.ValidationError(
                "Give at least one way to identify or reach the customer: email, phone or "
                "external_id."
            )
        return attrs


class ComplaintIntakeSerializer(StrictSerializer):
    subject = SingleLineCharField(max_length=200)
    description = serializers.CharField(max_length=DESCRIPTION_MAX_CHARS)
    remedy_sought = serializers.CharField(
        max_length=MESSAGE_MAX_CHARS, required=False, allow_blank=True, default=""
    )
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, default=Channel.API)
    customer = CustomerInputSerializer(required=False)
    category = serializers.SlugField(required=False, allow_blank=True, default="")
    touchpoint = serializers.SlugField(required=False, allow_blank=True, default="")
    journey_stage = serializers.SlugField(required=False, allow_blank=True, default="")
    product = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default="")
    occurred_on = CalendarDateField(required=False, allow_null=True, default=None)

    def validate_occurred_on(self, day):
        problem = field_rules.occurred_on_problem(day)
        if problem:
            raise serializers.ValidationError(problem)
        return day

    jurisdiction = serializers.CharField(
        max_length=16, required=False, allow_blank=True, default=""
    )
    regulatory_profile = RegulatoryProfileField(required=False, default="")
    sent_to_company_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    team = serializers.SlugField(required=False, allow_blank=True, default="")

    def to_intake(self) -> ComplaintIntake:
        data = dict(self.validated_data)
        customer = data.pop("customer", None)
        return ComplaintIntake(
            customer=CustomerDetails(**customer) if customer else None,
            **data,
        )


class TransitionInputSerializer(StrictSerializer):
    """The common part of every transition request; the rest depends on the transition."""

    transition = serializers.ChoiceField(choices=TRANSITIONS)
    # A state that does not exist is a mistake in the request (400), not a conflict (409).
    expected_state = serializers.ChoiceField(
        choices=State.choices, required=False, allow_blank=True, default=""
    )


class AcknowledgeSerializer(TransitionInputSerializer):
    message = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    next_steps = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class ResolveSerializer(TransitionInputSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    summary = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    root_causes = serializers.ListField(
        child=serializers.CharField(max_length=200, validators=[ROOT_CAUSE_CODE_VALIDATOR]),
        min_length=1,
        max_length=20,
    )
    primary_root_cause = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        validators=[ROOT_CAUSE_CODE_VALIDATOR],
    )


class CloseLoopSerializer(TransitionInputSerializer):
    what_we_found = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    what_we_did = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    what_will_change = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class ReasonSerializer(TransitionInputSerializer):
    reason = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class WithdrawSerializer(ReasonSerializer):
    duplicate_of = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )


TRANSITION_SERIALIZERS = {
    "acknowledge": AcknowledgeSerializer,
    "resolve": ResolveSerializer,
    "close_loop": CloseLoopSerializer,
    "reopen": ReasonSerializer,
    "withdraw": WithdrawSerializer,
}


class MessageInputSerializer(StrictSerializer):
    body = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    internal = serializers.BooleanField(required=False, default=False)


class HoldSerializer(StrictSerializer):
    awaiting = serializers.BooleanField()
    reason = serializers.CharField(
        max_length=MESSAGE_MAX_CHARS, required=False, allow_blank=True, default=""
    )


class AssignmentSerializer(StrictSerializer):
    assignee = serializers.CharField(max_length=150, allow_null=True)
    reason = serializers.CharField(
        max_length=MESSAGE_MAX_CHARS, required=False, allow_blank=True, default=""
    )


class RegulationChangeSerializer(StrictSerializer):
    """Any of the three values; the ones left out stay as they are."""

    regulatory_profile = RegulatoryProfileField(required=False)
    jurisdiction = serializers.CharField(max_length=16, required=False, allow_blank=True)
    sent_to_company_at = serializers.DateTimeField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=5_000)


class MergeSerializer(StrictSerializer):
    duplicate = serializers.CharField(
        max_length=32, help_text="Reference of the complaint to merge into this one."
    )
    reason = serializers.CharField(max_length=5_000, help_text="Why the two are one complaint.")


class RecategoriseSerializer(StrictSerializer):
    category = serializers.SlugField(
        max_length=150, help_text="Slug of the category in use to move the complaint to."
    )
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Why."
    )


class HoldingReplySerializer(StrictSerializer):
    message = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    exceptional = serializers.BooleanField(required=False, default=False)


class WrittenResponseSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=MESSAGE_MAX_CHARS, help_text="Why there is no final response yet."
    )
    expected_by = CalendarDateField(
        help_text="When the final response is expected (YYYY-MM-DD, today or later)."
    )


class DelayNotificationSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=MESSAGE_MAX_CHARS, help_text="Why the response is delayed."
    )
    expected_by = CalendarDateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the response is expected (YYYY-MM-DD, today or later), if known.",
    )


class ProvisionalCreditSerializer(StrictSerializer):
    # A string in JSON, as every amount of the API: a float would round it.
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="USD")


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    otp = serializers.CharField(
        max_length=12,
        required=False,
        help_text="The 6-digit code of the account's authenticator app; required once the "
        "account has enrolled a second factor.",
    )


class TokenSerializer(Representation):
    token = serializers.CharField(help_text="Shown once: only its hash is kept.")
    expiry = serializers.DateTimeField(help_text="After this instant the token opens nothing.")


class ApiTokenSerializer(Representation):
    key = serializers.CharField(source="token_key", help_text="The token's first characters.")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField()
    current = serializers.SerializerMethodField(help_text="The token of this very request.")

    def get_current(self, token) -> bool:
        current = self.context.get("current")
        return current is not None and getattr(current, "pk", None) == token.pk


# -- representations ----------------------------------------------------------------------


class NamedSlugSerializer(Representation):
    slug = serializers.CharField()
    name = serializers.CharField()


class CustomerRefSerializer(Representation):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()


class ComplaintListSerializer(Representation, serializers.ModelSerializer):
    customer = CustomerRefSerializer()
    team = NamedSlugSerializer(allow_null=True)
    assignee = UserRefSerializer(allow_null=True)
    category = NamedSlugSerializer(allow_null=True)
    touchpoint = NamedSlugSerializer(allow_null=True)
    journey_stage = NamedSlugSerializer(allow_null=True)

    class Meta:
        model = Complaint
        fields = [
            "reference",
            "state",
            "subject",
            "channel",
            "severity",
            "priority",
            "customer",
            "team",
            "assignee",
            "category",
            "touchpoint",
            "journey_stage",
            "product",
            "jurisdiction",
            "regulatory_profile",
            "sent_to_company_at",
            "awaiting_customer",
            "customer_replied_at",
            "next_deadline_at",
            "escalation_level",
            "next_escalation_at",
            "received_at",
            "acknowledged_at",
            "resolved_at",
            "loop_closed_at",
            "updated_at",
        ]


class EventSerializer(Representation, serializers.ModelSerializer):
    actor = UserRefSerializer(allow_null=True)

    class Meta:
        model = ComplaintEvent
        fields = ["id", "type", "actor", "parameters", "created_at"]


class MessageSerializer(Representation, serializers.ModelSerializer):
    author = UserRefSerializer(allow_null=True)
    written_by = serializers.CharField(
        help_text="An inbound message's writer when not the customer (a contact accepted from "
        'held mail, as "Name <address>"); empty otherwise.'
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "kind",
            "channel",
            "author",
            "written_by",
            "body",
            "created_at",
        ]


class RootCauseAppliedSerializer(Representation):
    code = serializers.CharField(source="root_cause.code")
    name = serializers.CharField(source="root_cause.path")
    is_primary = serializers.BooleanField()


class UndeliveredEmailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    message_id = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    recipient = serializers.CharField()
    subject = serializers.CharField()
    failed = serializers.BooleanField(help_text="False for a delay still being retried.")
    permanent = serializers.BooleanField(allow_null=True, help_text="5.x.x (true) or 4.x.x.")
    status_code = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField(allow_null=True)
    regulatory_letter = serializers.BooleanField()
    resendable = serializers.BooleanField(
        help_text="A failed email: POST /api/complaints/{reference}/emails/{id}/resend/."
    )


class ComplaintDetailSerializer(ComplaintListSerializer):
    root_causes = RootCauseAppliedSerializer(many=True)
    timeline = EventSerializer(many=True, source="events")
    messages = MessageSerializer(many=True)
    clocks = ClockSerializer(many=True)
    escalations = EscalationSerializer(many=True)
    allowed_transitions = serializers.SerializerMethodField()
    undelivered_emails = serializers.SerializerMethodField()
    possible_customer = serializers.SerializerMethodField()

    class Meta(ComplaintListSerializer.Meta):
        fields = [
            *ComplaintListSerializer.Meta.fields,
            "description",
            "remedy_sought",
            "occurred_on",
            "outcome",
            "resolution_summary",
            "withdrawal_reason",
            "reopen_count",
            "withdrawn_at",
            "root_causes",
            "clocks",
            "escalations",
            "allowed_transitions",
            "undelivered_emails",
            "possible_customer",
            "timeline",
            "messages",
        ]

    def get_allowed_transitions(self, complaint) -> list[str]:
        from recovery.services.lifecycle import available_transitions

        user = self.context["request"].user
        return available_transitions(complaint, user)

    @extend_schema_field(UndeliveredEmailSerializer(many=True))
    def get_undelivered_emails(self, complaint) -> list[dict]:
        """Emails to the customer that bounced or failed (staff only; [] for the customer).
        ``regulatory_letter`` marks a final response or statutory letter among them."""
        if not roles.is_staff_member(self.context["request"].user):
            return []
        from notifications.selectors import undelivered_emails

        return [email.as_dict() for email in undelivered_emails(complaint)]

    @extend_schema_field(CustomerRefSerializer(allow_null=True))
    def get_possible_customer(self, complaint) -> dict | None:
        """Address not yet confirmed by the customer: the existing customer whose address the
        complaint was filed under, while ``customer`` is a provisional record (staff only;
        null once confirmed or linked, and always for a customer)."""
        match = complaint.customer_match
        if match is None or not roles.is_staff_member(self.context["request"].user):
            return None
        return {"id": match.pk, "name": match.name, "email": match.email}


class RootCauseSerializer(Representation, serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    path = serializers.CharField(read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = RootCause
        fields = ["code", "name", "path", "parent", "description", "active"]
