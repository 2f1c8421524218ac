"""HTTP interface of the escalation app: clocks and escalations as parts of a complaint,
hand escalation, customers' escalation requests, SLA compliance figures, and the regulatory
profiles (read only)."""

from datetime import datetime, time, timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import NotFound, PermissionDenied, ValidationFailed
from common.rest.fields import Representation, StrictSerializer
from escalation import regulatory, selectors
from escalation.serializers import EscalationSerializer, RegulatoryProfileSerializer
from escalation.services import ladder
from recovery import roles
from recovery.selectors import complaint_to_change, complaint_to_work

REASON_MAX_CHARS = 5_000


class EscalateSerializer(StrictSerializer):
    direction = serializers.ChoiceField(choices=["up", "down"])
    reason = serializers.CharField(max_length=REASON_MAX_CHARS)


class EscalationRequestSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=REASON_MAX_CHARS)


class ComplaintEscalationView(APIView):
    @extend_schema(request=EscalateSerializer, responses={201: EscalationSerializer})
    def post(self, request, reference: str):
        complaint = complaint_to_work(reference=reference, user=request.user)
        payload = EscalateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        escalation = ladder.complaint_escalate_by_hand(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return Response(EscalationSerializer(escalation).data, status=201)


class EscalationRequestedSerializer(Representation):
    message = serializers.CharField()


class EscalationRequestView(APIView):
    @extend_schema(
        request=EscalationRequestSerializer, responses={202: EscalationRequestedSerializer}
    )
    def post(self, request, reference: str):
        complaint = complaint_to_change(reference=reference, user=request.user)
        payload = EscalationRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ladder.complaint_request_escalation(
            complaint=complaint, actor=request.user, reason=payload.validated_data["reason"]
        )
        return Response(
            {"message": "Your request for escalation was recorded and sent to a supervisor."},
            status=202,
        )


class ComplianceQuerySerializer(StrictSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    group_by = serializers.ChoiceField(choices=list(selectors.GROUPINGS), default="none")


# The longest period one compliance query may span; a year keeps the aggregate fast.
MAX_PERIOD = timedelta(days=366)


class ComplianceRowSerializer(Representation):
    clock = serializers.CharField(help_text='The kind; "resolve (statutory)" for an obligation')
    statutory = serializers.BooleanField()
    regulatory_profile = serializers.CharField(help_text="Empty for internal targets")
    group = serializers.CharField(allow_null=True)
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    running = serializers.IntegerField()
    met_percent = serializers.FloatField(allow_null=True)
    breached_percent = serializers.FloatField(allow_null=True)


class ComplianceSerializer(Representation):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = ComplianceRowSerializer(many=True)


class ComplianceView(APIView):
    @extend_schema(
        responses=ComplianceSerializer,
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description="First day, default 30 days ago"
            ),
            OpenApiParameter(
                "end", OpenApiTypes.DATE, description="Day after the last, default tomorrow"
            ),
            OpenApiParameter("group_by", str, enum=list(selectors.GROUPINGS)),
        ],
    )
    def get(self, request):
        if not roles.is_staff_member(request.user):
            raise PermissionDenied("SLA compliance figures are for staff.")
        query = ComplianceQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        today = timezone.localdate()
        start = query.validated_data.get("start") or today - timedelta(days=30)
        end = query.validated_data.get("end") or today + timedelta(days=1)
        if end <= start or end - start > MAX_PERIOD:
            raise ValidationFailed(
                "The period must end after it starts and span at most 366 days.",
                details={"end": ["Choose an end after start, within 366 days."]},
            )
        zone = timezone.get_current_timezone()
        rows = selectors.sla_compliance(
            start=datetime.combine(start, time(0), zone),
            end=datetime.combine(end, time(0), zone),
            group_by=query.validated_data["group_by"],
        )
        return Response({"start": start, "end": end, "rows": rows})


class RegulatoryProfileListView(APIView):
    """Every built-in profile, for integrators choosing one: what it applies to, where it
    counts, its obligations with their citations, and the letters it gives an effect."""

    @extend_schema(responses=RegulatoryProfileSerializer(many=True))
    def get(self, request):
        profiles = regulatory.PROFILES.values()
        return Response(RegulatoryProfileSerializer(profiles, many=True).data)


class RegulatoryProfileDetailView(APIView):
    @extend_schema(responses=RegulatoryProfileSerializer)
    def get(self, request, code: str):
        profile = regulatory.get_profile(code)
        if profile is None:
            raise NotFound(
                f"No regulatory profile {code!r}; known: {', '.join(regulatory.PROFILES)}."
            )
        return Response(RegulatoryProfileSerializer(profile).data)
