"""HTTP interface of the inbox: list, unread count, mark read, preferences."""

from zoneinfo import available_timezones

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ValidationFailed
from common.rest.fields import Representation, StrictSerializer
from common.rest.pagination import CheckedPageNumberPagination
from notifications import inbox
from notifications.kinds import Kind, Telling
from notifications.models import EmailDigest, Notification, NotificationPreference

# Ids accepted in one mark-read call; "all up to id N" covers larger sweeps.
MARK_READ_MAX_IDS = 500


class NotificationSerializer(Representation, serializers.ModelSerializer):
    event_id = serializers.IntegerField(source="outbox_id")
    link = serializers.CharField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "event_id",
            "event_type",
            "reference",
            "summary",
            "link",
            "created_at",
            "read",
            "read_at",
        ]

    def get_read(self, row) -> bool:
        return row.read_at is not None


class MarkReadSerializer(StrictSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=MARK_READ_MAX_IDS,
    )
    up_to_event_id = serializers.IntegerField(required=False, min_value=1)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        given = [k for k in ("ids", "up_to_event_id") if k in attrs] + (
            ["all"] if attrs["all"] else []
        )
        if len(given) != 1:
            raise serializers.ValidationError(
                "Give exactly one of: ids, up_to_event_id, or all=true."
            )
        return attrs


class PreferenceSerializer(serializers.ModelSerializer):
    time_zone = serializers.ChoiceField(choices=sorted(available_timezones()), required=False)
    email_digest = serializers.ChoiceField(choices=EmailDigest.choices, required=False)
    muted_events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=len(inbox.EVENT_TYPES),
        help_text="Event types to leave out of the inbox and the live feed, e.g. "
        "complaint.note_added (docs/notifications.md lists them).",
    )

    by_kind = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="How to be told of each kind of notification: "
        f"{', '.join(Kind.values)} → {', '.join(Telling.values)}; an empty value (or null) "
        "forgets the choice. Only the kinds sent change.",
    )

    class Meta:
        model = NotificationPreference
        fields = [
            "by_kind",
            "muted_events",
            "via_websocket",
            "via_email",
            "quiet_hours_start",
            "quiet_hours_end",
            "time_zone",
            "email_digest",
        ]

    def validate_muted_events(self, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - inbox.EVENT_TYPES)
        if unknown:
            raise serializers.ValidationError(
                _("Unknown event types: %(unknown)s. Known types: %(known)s.")
                % {"unknown": ", ".join(unknown), "known": ", ".join(sorted(inbox.EVENT_TYPES))}
            )
        # Each type once, in the order given.
        return list(dict.fromkeys(value))

    def to_internal_value(self, data):
        # A null value forgets a kind's choice; DictField's child would refuse it.
        if isinstance(data, dict) and isinstance(data.get("by_kind"), dict):
            data = {
                **data,
                "by_kind": {k: "" if v is None else v for k, v in data["by_kind"].items()},
            }
        return super().to_internal_value(data)

    def validate_by_kind(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(Kind.values))
        bad = sorted(k for k, v in value.items() if v and v not in Telling.values)
        if unknown or bad:
            problems = []
            if unknown:
                problems.append(
                    _("Unknown kinds: %(unknown)s. Kinds: %(known)s.")
                    % {"unknown": ", ".join(unknown), "known": ", ".join(Kind.values)}
                )
            if bad:
                problems.append(
                    _("Unknown choice for %(kinds)s. Choices: %(known)s.")
                    % {"kinds": ", ".join(bad), "known": ", ".join(Telling.values)}
                )
            raise serializers.ValidationError(problems)
        # Merged into the choices already made: only the kinds sent change.
        merged = dict(getattr(self.instance, "by_kind", None) or {})
        for kind, telling in value.items():
            if telling:
                merged[kind] = telling
            else:
                merged.pop(kind, None)
        return merged

    def validate(self, attrs):
        start = attrs.get("quiet_hours_start", getattr(self.instance, "quiet_hours_start", None))
        end = attrs.get("quiet_hours_end", getattr(self.instance, "quiet_hours_end", None))
        if (start is None) != (end is None):
            raise serializers.ValidationError(
                {"quiet_hours_end": [_("Give both ends of the quiet hours, or neither.")]}
            )
        if start is not None and start == end:
            raise serializers.ValidationError(
                {"quiet_hours_end": [_("Quiet hours cannot start and end at the same time.")]}
            )
        return attrs


class InboxPagination(CheckedPageNumberPagination):
    page_size = 50
    max_page_size = 200

    def get_paginated_response_schema(self, schema):
        # The page also says how many are unread in all (InboxView adds it).
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread"] = {"type": "integer", "minimum": 0}
        paginated["required"] = [*paginated["required"], "unread"]
        return paginated


class InboxQuerySerializer(serializers.Serializer):
    # page and page_size are the paginator's; only this one is ours to check.
    unread = serializers.BooleanField(required=False, default=False)


class InboxView(APIView):
    # A page object (count, next, previous, results, unread), which the schema shows as such.
    pagination_class = InboxPagination

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="Only unread notifications.")],
        responses=NotificationSerializer(many=True),
    )
    def get(self, request):
        # A plain dict: from a QueryDict DRF would take "?unread=" as left out.
        query = InboxQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        unread = query.validated_data["unread"]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            inbox.inbox_of(request.user, unread_only=unread), request
        )
        data = NotificationSerializer(page, many=True).data
        response = paginator.get_paginated_response(data)
        response.data["unread"] = inbox.unread_count(request.user)
        return response


class UnreadCountSerializer(Representation):
    unread = serializers.IntegerField(min_value=0)


class MarkedReadSerializer(Representation):
    marked = serializers.IntegerField(min_value=0, help_text="Notifications marked read now.")
    unread = serializers.IntegerField(min_value=0)


class UnreadCountView(APIView):
    @extend_schema(responses=UnreadCountSerializer)
    def get(self, request):
        return Response({"unread": inbox.unread_count(request.user)})


class MarkReadView(APIView):
    @extend_schema(request=MarkReadSerializer, responses=MarkedReadSerializer)
    def post(self, request):
        payload = MarkReadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        marked = inbox.mark_read(
            request.user, ids=data.get("ids"), up_to=data.get("up_to_event_id")
        )
        return Response({"marked": marked, "unread": inbox.unread_count(request.user)})


class PreferenceView(APIView):
    @extend_schema(responses=PreferenceSerializer)
    def get(self, request):
        return Response(PreferenceSerializer(inbox.preferences_of(request.user)).data)

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer)
    def patch(self, request):
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object of the preferences to change.")
        unknown = sorted(set(request.data) - set(PreferenceSerializer.Meta.fields))
        if unknown:
            raise ValidationFailed(
                f"Unknown preferences: {', '.join(unknown)}.",
                details={name: ["Unknown field."] for name in unknown},
            )
        serializer = PreferenceSerializer(
            inbox.preferences_of(request.user), data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        preference = inbox.preferences_update(user=request.user, changes=serializer.validated_data)
        return Response(PreferenceSerializer(preference).data)
