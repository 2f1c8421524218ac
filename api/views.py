"""HTTP interface of the recovery app: thin views that validate, call a service, answer."""

from django.contrib.auth import authenticate, user_logged_in
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filters import ComplaintFilter
from api.serializers import (
    TRANSITION_SERIALIZERS,
    ApiTokenSerializer,
    AssignmentSerializer,
    ComplaintDetailSerializer,
    ComplaintIntakeSerializer,
    ComplaintListSerializer,
    DelayNotificationSerializer,
    HoldingReplySerializer,
    HoldSerializer,
    MergeSerializer,
    MessageInputSerializer,
    MessageSerializer,
    ProvisionalCreditSerializer,
    RecategoriseSerializer,
    RegulationChangeSerializer,
    RootCauseSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    TransitionInputSerializer,
    WrittenResponseSerializer,
)
from api.throttles import ClientAddressThrottle
from common.errors import PermissionDenied, ValidationFailed
from common.rest.pagination import CheckedPageNumberPagination
from recovery import roles, second_factor, selectors
from recovery.lockout import lockout_error
from recovery.models import MessageKind, RootCause
from recovery.services import (
    api_tokens,
    categories,
    intake,
    lifecycle,
    merge,
    messages,
    regulation,
    sla,
)

IDEMPOTENCY_KEY_MAX = 255


class QueuePagination(CheckedPageNumberPagination):
    page_size = 50
    # A page is one query whatever its size; 200 keeps a response under ~0.5 MB.
    max_page_size = 200


class ComplaintListCreateView(generics.ListAPIView):
    serializer_class = ComplaintListSerializer
    pagination_class = QueuePagination
    filterset_class = ComplaintFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["received_at", "next_deadline_at", "escalation_level", "updated_at"]
    ordering = ["-received_at", "-id"]

    def get_queryset(self):
        return selectors.complaint_queue(self.request.user)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # A stable order: ties (same deadline) broken by id, so pages never overlap.
        return queryset.order_by(*queryset.query.order_by, "-id")

    @extend_schema(
        request=ComplaintIntakeSerializer,
        responses={201: ComplaintDetailSerializer, 200: ComplaintDetailSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retry safely: the same key and body return the same complaint.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                response=[200, 201],
                required=True,
                description="The complaint's URL, /api/complaints/{reference}/.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                required=True,
                enum=["true"],
                description="The key was seen before: this is the complaint it made (200).",
            ),
        ],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise ValidationFailed(
                f"Idempotency-Key is {len(key)} characters; at most {IDEMPOTENCY_KEY_MAX}.",
                details={"Idempotency-Key": ["Too long."]},
            )
        if not key.isprintable():
            # Control characters (NUL above all, which PostgreSQL cannot store) are never
            # part of a key a client meant to send.
            raise ValidationFailed(
                "Idempotency-Key may not contain control characters; use letters, digits "
                "and punctuation, such as a UUID.",
                details={"Idempotency-Key": ["Control characters are not allowed."]},
            )
        serializer = ComplaintIntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        regime = ("regulatory_profile", "jurisdiction", "sent_to_company_at")
        if not roles.is_staff_member(request.user) and any(
            serializer.validated_data.get(name) for name in regime
        ):
            # The firm decides which law a complaint is handled under, not the complainant;
            # the portal and email never offer these, the API is the one door to close.
            raise PermissionDenied(
                "Only staff may set a complaint's regulatory profile, jurisdiction or "
                "sent-to-company time; the firm's default applies."
            )
        complaint, created = intake.complaint_submit(
            actor=request.user,
            intake=serializer.to_intake(),
            idempotency_key=key or None,
            request_hash=intake.request_fingerprint(request.data) if key else "",
        )
        # A new complaint's answer is built from the instance intake made; a replay reads
        # the complaint as it is now, which may have moved on since.
        detail = (
            selectors.complaint_just_filed(complaint, request.user)
            if created
            else selectors.complaint_api_detail(
                reference=complaint.reference, user=request.user, just_filed=True
            )
        )
        headers = {"Location": f"/api/complaints/{complaint.reference}/"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            ComplaintDetailSerializer(detail, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers=headers,
        )


class ComplaintDetailView(APIView):
    @extend_schema(responses=ComplaintDetailSerializer)
    def get(self, request, reference: str):
        complaint = selectors.complaint_api_detail(reference=reference, user=request.user)
        return Response(ComplaintDetailSerializer(complaint, context={"request": request}).data)


SERVICE_BY_TRANSITION = {
    "acknowledge": lifecycle.complaint_acknowledge,
    "resolve": lifecycle.complaint_resolve,
    "close_loop": lifecycle.complaint_close_loop,
    "reopen": lifecycle.complaint_reopen,
    "withdraw": lifecycle.complaint_withdraw,
}


class ComplaintTransitionView(APIView):
    @extend_schema(request=TransitionInputSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_change(reference=reference, user=request.user)
        data = request.data
        name = data.get("transition") if isinstance(data, dict) else None
        if not isinstance(name, str) or name not in SERVICE_BY_TRANSITION:
            choices = ", ".join(SERVICE_BY_TRANSITION)
            raise ValidationFailed(
                ("Say which transition to make" if name is None else f"Unknown transition {name!r}")
                + f"; choose one of: {choices}.",
                details={"transition": [f"Choose one of: {choices}."]},
            )
        # State (409) and permission (403) come before the payload (400): no point asking
        # someone to fill in a form for a step they cannot take.
        lifecycle.ensure_transition_allowed(complaint, request.user, name)
        serializer = TRANSITION_SERIALIZERS[name](data=data)
        serializer.is_valid(raise_exception=True)
        payload = dict(serializer.validated_data)
        payload.pop("transition")
        payload["expected_state"] = payload.pop("expected_state") or None
        changed = SERVICE_BY_TRANSITION[name](complaint=complaint, actor=request.user, **payload)
        fresh = selectors.complaint_changed(changed, request.user)
        return Response(ComplaintDetailSerializer(fresh, context={"request": request}).data)


class ComplaintMessageView(APIView):
    @extend_schema(request=MessageInputSerializer, responses={201: MessageSerializer})
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_change(reference=reference, user=request.user)
        serializer = MessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = messages.message_add(
            complaint=complaint, actor=request.user, **serializer.validated_data
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ComplaintHoldView(APIView):
    @extend_schema(request=HoldSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        payload = HoldSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sla.complaint_set_awaiting_customer(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return _detail(request, reference)


class ComplaintAssignmentView(APIView):
    @extend_schema(request=AssignmentSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        payload = AssignmentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        username = payload.validated_data["assignee"]
        assignee = None
        if username is not None:
            assignee = roles.staff_members().filter(username=username).first()
            if assignee is None:
                raise ValidationFailed(
                    f"No active staff member {username!r}.",
                    details={"assignee": ["Give the username of an active staff member."]},
                )
        sla.complaint_assign(
            complaint=complaint,
            assignee=assignee,
            actor=request.user,
            reason=payload.validated_data["reason"],
        )
        return _detail(request, reference)


class ComplaintMergeView(APIView):
    """Merge the complaint ``duplicate`` into this one (recovery.services.merge)."""

    @extend_schema(request=MergeSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        survivor = selectors.complaint_to_work(reference=reference, user=request.user)
        payload = MergeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        duplicate = selectors.complaint_to_change(
            reference=payload.validated_data["duplicate"].strip(), user=request.user
        )
        merge.complaint_merge(
            survivor=survivor,
            duplicate=duplicate,
            actor=request.user,
            reason=payload.validated_data["reason"],
        )
        return _detail(request, reference)


class ComplaintCategoryView(APIView):
    """Move the complaint to another category (recovery.services.categories): its internal
    deadlines are re-planned under that category's policy, its statutory ones kept."""

    @extend_schema(request=RecategoriseSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        # Permission (403) before the payload (400), as for transitions.
        categories.ensure_may_recategorise(complaint, request.user)
        payload = RecategoriseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        categories.complaint_recategorise(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return _detail(request, reference)


class ComplaintHoldingReplyView(APIView):
    @extend_schema(request=HoldingReplySerializer, responses={201: MessageSerializer})
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        payload = HoldingReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = messages.complaint_send_holding_reply(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ComplaintRegulationView(APIView):
    @extend_schema(request=RegulationChangeSerializer, responses={200: ComplaintDetailSerializer})
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        payload = RegulationChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        regulation.complaint_change_regulation(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return _detail(request, reference)


class _StatutoryLetterView(APIView):
    """A regime's letter (written response, delay notification): one shape for each."""

    kind: str
    serializer_class: type
    send: staticmethod

    def post(self, request, reference: str):
        complaint = selectors.complaint_to_change(reference=reference, user=request.user)
        # Who may write (403), the state (409) and the profile (400) before the fields.
        messages.ensure_may_send_letter(complaint, request.user, self.kind)
        payload = self.serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        message = self.send(complaint=complaint, actor=request.user, **payload.validated_data)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(request=WrittenResponseSerializer, responses={201: MessageSerializer})
)
class ComplaintWrittenResponseView(_StatutoryLetterView):
    kind = MessageKind.WRITTEN_RESPONSE
    serializer_class = WrittenResponseSerializer
    send = staticmethod(messages.complaint_send_written_response)


@extend_schema_view(
    post=extend_schema(request=DelayNotificationSerializer, responses={201: MessageSerializer})
)
class ComplaintDelayNotificationView(_StatutoryLetterView):
    kind = MessageKind.DELAY_NOTIFICATION
    serializer_class = DelayNotificationSerializer
    send = staticmethod(messages.complaint_send_delay_notification)


class ComplaintProvisionalCreditView(APIView):
    @extend_schema(request=ProvisionalCreditSerializer, responses=ComplaintDetailSerializer)
    def post(self, request, reference: str):
        complaint = selectors.complaint_to_change(reference=reference, user=request.user)
        regulation.ensure_may_record_provisional_credit(complaint, request.user)
        payload = ProvisionalCreditSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        regulation.complaint_record_provisional_credit(
            complaint=complaint, actor=request.user, **payload.validated_data
        )
        return _detail(request, reference)


class ResentEmailSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The new email.")
    resent_email_id = serializers.IntegerField(help_text="The failed email it sends again.")
    kind = serializers.CharField()
    recipient = serializers.CharField()
    status = serializers.CharField()


class ComplaintEmailResendView(APIView):
    """Send a failed customer email again (``notifications.undelivered.email_resend``)."""

    @extend_schema(request=None, responses={202: ResentEmailSerializer})
    def post(self, request, reference: str, email_id: int):
        # Imported here: notifications' delivery imports the recovery services.
        from notifications.undelivered import email_resend

        complaint = selectors.complaint_to_work(reference=reference, user=request.user)
        again = email_resend(email_id=email_id, actor=request.user, complaint_id=complaint.pk)
        body = {
            "id": again.pk,
            "resent_email_id": again.resent_from_id,
            "kind": again.kind,
            "recipient": again.recipient,
            "status": again.status,
        }
        return Response(ResentEmailSerializer(body).data, status=status.HTTP_202_ACCEPTED)


def _detail(request, reference: str) -> Response:
    fresh = selectors.complaint_api_detail(reference=reference, user=request.user)
    return Response(ComplaintDetailSerializer(fresh, context={"request": request}).data)


class RootCauseQuerySerializer(serializers.Serializer):
    include_retired = serializers.BooleanField(required=False, default=False)


class RootCauseListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include_retired", bool, description="Also list causes no longer in use."
            )
        ],
        responses=RootCauseSerializer(many=True),
    )
    def get(self, request):
        if not request.user.has_perm("recovery.resolve_complaint"):
            raise PermissionDenied("Only staff who resolve complaints use the taxonomy.")
        causes = list(RootCause.objects.all())
        by_id = {cause.pk: cause for cause in causes}
        # Link parents in memory so each path is built without a query per level.
        for cause in causes:
            cause.parent = by_id.get(cause.parent_id)
        # A plain dict: from a QueryDict DRF would take "?include_retired=" as left out.
        query = RootCauseQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        include_retired = query.validated_data["include_retired"]
        shown = [c for c in causes if include_retired or c.is_active]
        return Response(RootCauseSerializer(shown, many=True).data)


class ObtainTokenView(APIView):
    """A new API token for a username and password (django-axes counts the failures)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressThrottle]
    throttle_scope = "token"

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer, auth=[])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = dict(serializer.validated_data)
        code = credentials.pop("otp", None)
        user = authenticate(request, **credentials)
        if user is None:
            # django-axes flags the request when this failure, or an earlier run of them,
            # locked the account or the address out.
            if getattr(request, "axes_locked_out", False):
                raise lockout_error()
            raise ValidationFailed(
                "Unable to log in with the username and password given.",
                details={"non_field_errors": ["Invalid credentials."]},
            )
        second_factor.token_check(request=request, user=user, code=code)
        # Issuing a token is a sign-in: the audit log (axes) and last_login record it.
        # django-axes creates a session to hash into its access log; a token client keeps
        # no browser session, so one the signal made is thrown away (a caller's own is kept).
        had_session = request.session.session_key is not None
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        if not had_session:
            request.session.flush()
        token, secret = api_tokens.api_token_issue(user=user)
        return Response(TokenSerializer({"token": secret, "expiry": token.expiry}).data)


class ApiTokenListView(APIView):
    """The caller's own API tokens; DELETE revokes them all (sign out everywhere)."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request):
        tokens = api_tokens.api_tokens_of(request.user)
        return Response(
            ApiTokenSerializer(tokens, many=True, context={"current": request.auth}).data
        )

    @extend_schema(responses={204: None}, operation_id="auth_tokens_revoke_all")
    def delete(self, request):
        api_tokens.api_tokens_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenDetailView(APIView):
    """Revoke one of the caller's tokens, named by its first characters (``key``)."""

    @extend_schema(responses={204: None})
    def delete(self, request, key: str):
        api_tokens.api_token_revoke(user=request.user, token_key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
