"""Who is viewing or editing a complaint, one row per socket, cleared on disconnect."""

from datetime import timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import F, OuterRef
from django.db.models.functions import JSONObject
from django.utils import timezone

from notifications.models import Presence

# A socket that has not said anything for this long is treated as gone (its server may
# have died without running disconnect); clients send a heartbeat every 30 s.
PRESENCE_TTL = timedelta(seconds=90)
MODES = ("viewing", "editing")


def presence_set(*, complaint_id: int, user, channel_name: str, mode: str) -> None:
    Presence.objects.update_or_create(
        complaint_id=complaint_id,
        channel_name=channel_name,
        defaults={"user": user, "mode": mode, "seen_at": timezone.now()},
    )


def presence_clear(*, channel_name: str, complaint_id: int | None = None) -> list[int]:
    rows = Presence.objects.filter(channel_name=channel_name)
    if complaint_id is not None:
        rows = rows.filter(complaint_id=complaint_id)
    complaint_ids = sorted(set(rows.values_list("complaint_id", flat=True)))
    rows.delete()
    return complaint_ids


def _fresh(complaint_id):
    return Presence.objects.filter(
        complaint_id=complaint_id, seen_at__gte=timezone.now() - PRESENCE_TTL
    )


def presence_list(complaint_id: int, brought: list | None = None) -> list[dict]:
    """Everyone on the complaint now; someone editing in one tab counts as editing. One
    query, or none when ``brought`` (the rows of ``presence_annotation``)."""
    if brought is None:
        brought = _fresh(complaint_id).values("user_id", "mode", username=F("user__username"))
    people: dict[int, dict] = {}
    for row in brought:
        entry = people.setdefault(
            row["user_id"],
            {"user_id": row["user_id"], "username": row["username"], "mode": row["mode"]},
        )
        if row["mode"] == "editing":
            entry["mode"] = "editing"
    return sorted(people.values(), key=lambda entry: entry["username"])


# The attribute of a complaint read with ``presence_annotation``.
PRESENCE_ROWS = "presence_rows"


def presence_annotation() -> dict:
    """For a complaint read's ``annotate()`` on PostgreSQL: what ``presence_list`` reads,
    as one JSON array in that read's row. Empty elsewhere."""
    if connection.vendor != "postgresql":
        return {}
    rows = _fresh(OuterRef("pk")).values(
        row=JSONObject(user_id="user_id", mode="mode", username="user__username")
    )
    return {PRESENCE_ROWS: ArraySubquery(rows)}
