"""The supervisor's board: breached and at-risk complaints by level and team, today's
figures per team, and the recovery approvals queue; and what a card can do from there.

Each card action is a form that posts to its own URL, calls one service and returns to the
board (post/redirect/get); a ``RedressError`` answers the board again, with the message on
the card and the status the API would give (403, 409, 400). Someone who cannot open the
board (an agent taking a complaint) is sent to the complaint's page instead.
"""

import re
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import RedressError
from common.form_errors import status_of
from desk import board_cards, board_forms, desk, selectors
from desk.desk import staff_required
from desk.forms import staff_label
from escalation.services import ladder
from recovery.models import Team
from recovery.services import routing, seen_changes, sla

# A team filter sent back with a card's form: a slug, or nothing.
TEAM_SLUG = re.compile(r"^[-\w]{1,100}$")


def _is_supervisor(user) -> bool:
    return user.has_perm("recovery.work_any_complaint")


def supervisor_required(view):
    @staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not _is_supervisor(request.user):
            return render(request, "403.html", {"reason": "supervisor"}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


@supervisor_required
def escalation_board(request):
    return _board(request, request.GET.get("team", ""))


def _board(request, team_slug: str, *, card_error: dict | None = None, status: int = 200):
    teams = list(Team.objects.order_by("name"))
    team = next((t for t in teams if t.slug == team_slug), None)
    last_event_id = selectors.latest_event_id()
    # Read before the cards: a change made while they are read is after what they show.
    seen_event = seen_changes.latest_event_id()
    now = timezone.now()
    board = selectors.board(request.user, now, team.pk if team else None)
    rows = [
        row
        for section in ("breached", "at_risk")
        for level in board[section]
        for group in level["teams"]
        for row in group["complaints"]
    ]
    board_cards.attach_deadlines(rows, now)
    colleagues = board_cards.colleagues_by_team(row.team_id for row in rows)
    for row in rows:
        row.colleagues = colleagues.get(row.team_id, [])
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
            "seen_event": seen_event,
            "card_error": card_error,
        },
        status=status,
    )


def _back_to_board(team_slug: str):
    url = reverse("desk:board")
    if TEAM_SLUG.match(team_slug):
        url = f"{url}?{urlencode({'team': team_slug})}"
    return redirect(url)


def _card_action(name: str, form_class, run, success_message, *, may=None, form_kwargs=None):
    """A POST-only card action: check ``may``, validate the form, ``run`` the service, and
    return to the board (the team filter it showed is sent back as ``board_team``).

    ``may(complaint, user)`` is asked before the form is read, so someone who may not take
    the step is refused (403) rather than asked to fix the form.
    """

    @staff_required
    def view(request, reference: str):
        team_slug = request.POST.get("board_team", "")
        if request.method != "POST":
            return _back_to_board(request.GET.get("team", ""))
        complaint, refused = desk.complaint_or_refusal(request, reference)
        if refused is not None:
            return refused

        def refuse(message: str, status: int):
            if not _is_supervisor(request.user):
                return render(request, "403.html", {"exception": message}, status=status)
            card_error = {"reference": complaint.reference, "action": name, "message": message}
            return _board(request, team_slug, card_error=card_error, status=status)

        if may is not None and not may(complaint, request.user):
            return refuse(
                _("You may not %(action)s %(reference)s.")
                % {"action": _ACTION_WORDS[name], "reference": complaint.reference},
                403,
            )
        extra = form_kwargs(complaint) if form_kwargs else {}
        form = form_class(request.POST, **extra)
        if not form.is_valid():
            first = next(iter(form.errors.values()))[0]
            return refuse(f"{complaint.reference}: {first}", 400)
        seen_event = form.cleaned_data.get("seen_event")
        try:
            with transaction.atomic():
                if seen_event is not None:
                    seen_changes.complaint_lock_unchanged_since(
                        complaint=complaint, seen_event_id=seen_event
                    )
                run(request, complaint, form)
        except RedressError as error:
            return refuse(error.message, status_of(error))
        messages.success(request, success_message(complaint, form))
        if not _is_supervisor(request.user):
            return redirect("desk:complaint", reference=complaint.reference)
        return _back_to_board(team_slug)

    view.__name__ = f"board_{name}"
    return view


# What a refusal says the user may not do ("You may not move RDR-… to another team.").
_ACTION_WORDS = {
    "take": _("take"),
    "assign": _("assign"),
    "move": _("move to another team"),
    "escalate": _("escalate"),
}


def _may_hand_out(complaint, user) -> bool:
    return user.has_perm("recovery.assign_complaint")


def _may_escalate(complaint, user) -> bool:
    return user.has_perm("recovery.escalate_complaint")


take = _card_action(
    "take",
    board_forms.TakeForm,
    lambda request, complaint, form: sla.complaint_take(
        complaint=complaint,
        actor=request.user,
        seen_assignee_id=form.seen_assignee_id(),
        reason=_("taken from the board"),
    ),
    lambda complaint, form: _("%(reference)s is yours.") % {"reference": complaint.reference},
)

assign = _card_action(
    "assign",
    board_forms.CardAssignForm,
    lambda request, complaint, form: sla.complaint_assign(
        complaint=complaint,
        assignee=form.cleaned_data["assignee"],
        actor=request.user,
        reason=form.cleaned_data["reason"],
    ),
    lambda complaint, form: (
        _("%(reference)s assigned to %(name)s.")
        % {
            "reference": complaint.reference,
            "name": staff_label(form.cleaned_data["assignee"]),
        }
    ),
    may=_may_hand_out,
    form_kwargs=lambda complaint: {"team": complaint.team},
)

move = _card_action(
    "move",
    board_forms.MoveTeamForm,
    lambda request, complaint, form: routing.complaint_move_team(
        complaint=complaint,
        team=form.cleaned_data["team"],
        actor=request.user,
        reason=form.cleaned_data["reason"],
    ),
    lambda complaint, form: (
        _("%(reference)s moved to the %(team)s team.")
        % {"reference": complaint.reference, "team": form.cleaned_data["team"].name}
    ),
    may=routing.may_move_team,
)

escalate = _card_action(
    "escalate",
    board_forms.CardEscalateForm,
    lambda request, complaint, form: ladder.complaint_escalate_by_hand(
        complaint=complaint,
        actor=request.user,
        direction="up",
        reason=form.cleaned_data["reason"],
    ),
    lambda complaint, form: (
        _("%(reference)s escalated one level.") % {"reference": complaint.reference}
    ),
    may=_may_escalate,
)
