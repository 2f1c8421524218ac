"""HTTP interface for recovery actions, approvals, the recovery guide, surveys and CAPA."""

import math

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.throttles import ClientAddressThrottle
from common.errors import NotFound, PermissionDenied, ValidationFailed
from common.rest.fields import (
    CalendarDateField,
    Representation,
    StrictSerializer,
    UserRefSerializer,
)
from recovery import roles, selectors
from recovery.models import (
    CorrectiveAction,
    CorrectiveActionKind,
    CorrectiveActionStatus,
    RecoveryAction,
    RecoveryType,
)
from recovery.services import prevention, remedies, surveys

TEXT_MAX = 5000


class RecoveryActionSerializer(Representation, serializers.ModelSerializer):
    reference = serializers.CharField(source="complaint.reference", read_only=True)
    proposed_by = UserRefSerializer(allow_null=True)
    decided_by = UserRefSerializer(allow_null=True)
    delivered_by = UserRefSerializer(allow_null=True)
    # Money as a string: a JSON number would invite float arithmetic in clients.
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)

    class Meta:
        model = RecoveryAction
        fields = [
            "id",
            "reference",
            "type",
            "amount",
            "currency",
            "description",
            "status",
            "proposed_by",
            "proposed_at",
            "approver_role",
            "decided_by",
            "decided_at",
            "decision_reason",
            "delivered_by",
            "delivered_at",
            "suggested",
            "deviation_reason",
        ]


class SuggestionSerializer(Representation):
    """The recovery guide's row for the complaint's cause and severity."""

    guideline_id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=RecoveryType.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    note = serializers.CharField()


class RecoveryTotalSerializer(Representation):
    """Granted recovery of one type in one currency."""

    currency = serializers.CharField()
    type = serializers.ChoiceField(choices=RecoveryType.choices)
    total = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    count = serializers.IntegerField()


class ComplaintRecoveriesSerializer(Representation):
    suggested = SuggestionSerializer(allow_null=True, help_text="None when the guide has no row.")
    actions = RecoveryActionSerializer(many=True)
    totals = RecoveryTotalSerializer(many=True, help_text="Granted on this complaint.")
    customer_totals = RecoveryTotalSerializer(
        many=True, help_text="Granted to the customer, on all their complaints."
    )


class AmountField(serializers.JSONField):
    """Text or a JSON number, parsed by the service into a Decimal (never a float)."""

    def to_internal_value(self, data):
        # A JSON number beyond a float's range (1e309) is read as infinity, which JSONField
        # calls "not valid JSON": the service says what it is, too large.
        if isinstance(data, float) and not math.isfinite(data):
            return data
        return super().to_internal_value(data)


class ProposeSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=RecoveryType.choices)
    amount = AmountField(required=False, allow_null=True)
    currency = serializers.CharField(required=False, allow_blank=True, max_length=3)
    description = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    deviation_reason = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)

    def validate_amount(self, value):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise serializers.ValidationError('Give the amount as a string such as "25.00".')
        return value


class DecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=["approve", "decline"])
    reason = serializers.CharField(max_length=TEXT_MAX)


class DeliverySerializer(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)


def _visible_action(request, action_id: int) -> RecoveryAction:
    action = (
        RecoveryAction.objects.filter(
            pk=action_id, complaint__in=selectors.complaints_visible_to(request.user)
        )
        .select_related("complaint")
        .first()
    )
    if action is None or not roles.is_staff_member(request.user):
        raise NotFound(f"No recovery action {action_id} that you can see.")
    return action


class ComplaintRecoveryView(APIView):
    """GET a complaint's recoveries, the guide's suggestion and totals; POST to offer one."""

    @extend_schema(responses=ComplaintRecoveriesSerializer)
    def get(self, request, reference: str):
        complaint = selectors.complaint_detail(reference=reference, user=request.user)
        if not roles.is_staff_member(request.user):
            raise PermissionDenied("Recovery actions are managed by staff.")
        return Response(
            {
                "suggested": remedies.suggestion(remedies.guideline_for(complaint)),
                "actions": RecoveryActionSerializer(
                    complaint.recovery_actions.all(), many=True
                ).data,
                "totals": _totals(selectors.recovery_totals(complaint=complaint)),
                "customer_totals": _totals(selectors.recovery_totals(customer=complaint.customer)),
            }
        )

    @extend_schema(request=ProposeSerializer, responses={201: RecoveryActionSerializer})
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_change(reference=reference, user=request.user)
        payload = ProposeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        action = remedies.recovery_propose(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return Response(RecoveryActionSerializer(action).data, status=status.HTTP_201_CREATED)


def _totals(rows: list[dict]) -> list[dict]:
    return [{**row, "total": None if row["total"] is None else str(row["total"])} for row in rows]


class RecoveryDecisionView(APIView):
    @extend_schema(request=DecisionSerializer, responses=RecoveryActionSerializer)
    def post(self, request, action_id: int):
        action = _visible_action(request, action_id)
        if not request.user.has_perm("recovery.decide_recoveryaction"):
            # Who may decide (403) before the fields.
            raise PermissionDenied("Only supervisors and managers decide on recoveries.")
        payload = DecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        decided = remedies.recovery_decide(
            action_id=action.pk,
            actor=request.user,
            approve=payload.validated_data["decision"] == "approve",
            reason=payload.validated_data["reason"],
        )
        return Response(RecoveryActionSerializer(decided).data)


class RecoveryDeliveryView(APIView):
    @extend_schema(request=DeliverySerializer, responses=RecoveryActionSerializer)
    def post(self, request, action_id: int):
        action = _visible_action(request, action_id)
        payload = DeliverySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        delivered = remedies.recovery_deliver(
            action_id=action.pk, actor=request.user, **payload.validated_data
        )
        return Response(RecoveryActionSerializer(delivered).data)


class ApprovalQueueView(APIView):
    """Recoveries awaiting a decision the caller has the authority to make."""

    @extend_schema(responses=RecoveryActionSerializer(many=True))
    def get(self, request):
        if not request.user.has_perm("recovery.decide_recoveryaction"):
            raise PermissionDenied("Only supervisors and managers approve recoveries.")
        rows = selectors.approvals_queue(request.user)[:200]
        return Response(RecoveryActionSerializer(rows, many=True).data)


# -- surveys -----------------------------------------------------------------------------


def _score_field(name: str) -> serializers.JSONField:
    # Checked by the survey service, which also takes the number as text (from the web form);
    # the API documents the number. A class per scale: the schema reads a field's class.
    low, high = surveys.SCALES[name]
    score = type(f"{name.title()}ScoreField", (serializers.JSONField,), {})
    return extend_schema_field({"type": "integer", "minimum": low, "maximum": high})(score)()


class SurveyAnswerSerializer(StrictSerializer):
    csat = _score_field("csat")
    ces = _score_field("ces")
    nps = _score_field("nps")
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=surveys.MAX_COMMENT
    )


class SurveyScaleSerializer(Representation):
    min = serializers.IntegerField()
    max = serializers.IntegerField()


class SurveySerializer(Representation):
    reference = serializers.CharField()
    answered = serializers.BooleanField()
    scales = serializers.DictField(
        child=SurveyScaleSerializer(), help_text="The range of each score: csat, ces, nps."
    )


class SurveyAnsweredSerializer(Representation):
    answered = serializers.BooleanField()


class SurveyView(APIView):
    """The survey behind a signed link: GET shows it (records nothing), POST answers it once."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressThrottle]
    throttle_scope = "survey"

    @extend_schema(responses=SurveySerializer)
    def get(self, request, token: str):
        survey = surveys.survey_for_token(token)
        return Response(
            {
                "reference": survey.complaint.reference,
                "answered": survey.is_answered,
                "scales": {
                    name: {"min": lo, "max": hi} for name, (lo, hi) in surveys.SCALES.items()
                },
            }
        )

    @extend_schema(request=SurveyAnswerSerializer, responses={201: SurveyAnsweredSerializer})
    def post(self, request, token: str):
        payload = SurveyAnswerSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        surveys.survey_submit(token=token, **payload.validated_data)
        return Response({"answered": True}, status=status.HTTP_201_CREATED)


# -- corrective and preventive actions ---------------------------------------------------


class CorrectiveActionSerializer(Representation, serializers.ModelSerializer):
    owner = UserRefSerializer()
    root_causes = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    complaints = serializers.SlugRelatedField(slug_field="reference", many=True, read_only=True)

    class Meta:
        model = CorrectiveAction
        fields = [
            "id",
            "title",
            "description",
            "kind",
            "status",
            "owner",
            "root_causes",
            "complaints",
            "due_on",
            "done_at",
            "verified_at",
            "verification_note",
            "created_at",
        ]


class CorrectiveActionInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    kind = serializers.ChoiceField(choices=CorrectiveActionKind.choices, required=False)
    root_causes = serializers.ListField(child=serializers.CharField(max_length=200), max_length=50)
    complaints = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=prevention.MAX_LINKED_COMPLAINTS,
    )
    owner = serializers.CharField(max_length=150)
    due_on = CalendarDateField(required=False, allow_null=True)


class CorrectiveActionStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=CorrectiveActionStatus.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)


class CorrectiveActionLinkSerializer(StrictSerializer):
    complaints = serializers.ListField(
        child=serializers.CharField(max_length=32),
        min_length=1,
        max_length=prevention.MAX_LINKED_COMPLAINTS,
    )


def _require_capa_view(user) -> None:
    if not user.has_perm("recovery.view_correctiveaction"):
        raise PermissionDenied("Corrective actions are for supervisors and managers.")


def _capa(action_id: int) -> CorrectiveAction:
    action = (
        CorrectiveAction.objects.select_related("owner")
        .prefetch_related("root_causes", "complaints")
        .filter(pk=action_id)
        .first()
    )
    if action is None:
        raise NotFound(f"No corrective action {action_id}.")
    return action


class CorrectiveActionListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=CorrectiveActionStatus.values),
        ],
        responses=CorrectiveActionSerializer(many=True),
    )
    def get(self, request):
        _require_capa_view(request.user)
        rows = CorrectiveAction.objects.select_related("owner").prefetch_related(
            "root_causes", "complaints"
        )
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in CorrectiveActionStatus.values:
                raise ValidationFailed(
                    f"Unknown status {wanted!r}.",
                    details={"status": [f"Choose one of: {', '.join(CorrectiveActionStatus)}."]},
                )
            rows = rows.filter(status=wanted)
        return Response(CorrectiveActionSerializer(rows[:500], many=True).data)

    @extend_schema(
        request=CorrectiveActionInputSerializer, responses={201: CorrectiveActionSerializer}
    )
    def post(self, request):
        payload = CorrectiveActionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        action = prevention.corrective_action_open(actor=request.user, **payload.validated_data)
        return Response(
            CorrectiveActionSerializer(_capa(action.pk)).data, status=status.HTTP_201_CREATED
        )


class CorrectiveActionStatusView(APIView):
    @extend_schema(request=CorrectiveActionStatusSerializer, responses=CorrectiveActionSerializer)
    def post(self, request, action_id: int):
        _require_capa_view(request.user)
        # Who may (403) before the fields: the action's owner or a complaints manager.
        if _capa(action_id).owner_id != request.user.pk and not request.user.has_perm(
            "recovery.change_correctiveaction"
        ):
            raise PermissionDenied("Only the action's owner or a complaints manager may.")
        payload = CorrectiveActionStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        prevention.corrective_action_set_status(
            action_id=action_id, actor=request.user, **payload.validated_data
        )
        return Response(CorrectiveActionSerializer(_capa(action_id)).data)


class CorrectiveActionLinkView(APIView):
    @extend_schema(request=CorrectiveActionLinkSerializer, responses=CorrectiveActionSerializer)
    def post(self, request, action_id: int):
        if not request.user.has_perm("recovery.change_correctiveaction"):
            raise PermissionDenied("Only complaints managers change corrective actions.")
        payload = CorrectiveActionLinkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        prevention.corrective_action_link(
            action_id=action_id, actor=request.user, **payload.validated_data
        )
        return Response(CorrectiveActionSerializer(_capa(action_id)).data)
