"""Who an outbox event is for: its audience resolved to user ids, minus what they muted."""

from django.contrib.auth import get_user_model

from notifications.models import NotificationPreference


def staff_recipients(audience: dict, event_type: str) -> list[int]:
    """Named users plus the members of the named teams, without those who muted the event."""
    user_model = get_user_model()
    ids = set(audience.get("users") or [])
    teams = audience.get("teams") or []
    if teams:
        ids |= set(
            user_model.objects.filter(teams__in=teams, is_active=True).values_list("pk", flat=True)
        )
    if not ids:
        return []
    muted = (
        set(
            NotificationPreference.objects.filter(
                user_id__in=ids, muted_events__contains=[event_type]
            ).values_list("user_id", flat=True)
        )
        if _json_contains_supported()
        else _muted_by_scan(ids, event_type)
    )
    return sorted(ids - muted)


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.features.supports_json_field_contains


def _muted_by_scan(ids, event_type: str) -> set[int]:
    # SQLite has no JSON containment lookup; the preference table is one row per user.
    return {
        pref.user_id
        for pref in NotificationPreference.objects.filter(user_id__in=ids)
        if event_type in (pref.muted_events or [])
    }


def socket_muted(user_ids) -> set[int]:
    return set(
        NotificationPreference.objects.filter(
            user_id__in=list(user_ids), via_websocket=False
        ).values_list("user_id", flat=True)
    )
