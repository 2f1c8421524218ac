"""The supervisor's board: breached and at-risk complaints by level and team, today's
figures per team, and the recovery approvals queue."""

from functools import wraps

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from desk import selectors
from desk.desk import staff_required
from recovery.models import Team


def supervisor_required(view):
    @staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.has_perm("recovery.work_any_complaint"):
            return render(request, "403.html", {"reason": "supervisor"}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


@supervisor_required
def escalation_board(request):
    teams = list(Team.objects.order_by("name"))
    team_slug = request.GET.get("team", "")
    team = next((t for t in teams if t.slug == team_slug), None)
    last_event_id = selectors.latest_event_id()
    now = timezone.now()
    board = selectors.board(request.user, now, team.pk if team else None)
    sections = [
        {
            "key": "breached",
            "label": _("Breached"),
            "count": board["breached_count"],
            "levels": board["breached"],
        },
        {
            "key": "at_risk",
            "label": _("At risk"),
            "count": board["at_risk_count"],
            "levels": board["at_risk"],
        },
    ]
    return render(
        request,
        "desk/board.html",
        {
            "nav": "board",
            "now": now,
            "teams": teams,
            "team": team,
            "sections": sections,
            "figures": selectors.team_figures(request.user, now),
            "last_event_id": last_event_id,
        },
    )
