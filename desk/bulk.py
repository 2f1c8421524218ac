"""Bulk actions on a queue's selection: assign, move team, escalate, hold, use a macro.

Each selected complaint goes through its own service call, in its own transaction, and
writes its own timeline event, exactly as if done by hand; a refusal of one (another team's
complaint, one resolved meanwhile, a rule of the service) is said on its row and undoes
nothing of the others. The result is kept in the session and shown by a GET
(post/redirect/get), so that reloading the result never does it all again.
"""

from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from common.errors import RedressError, ValidationFailed
from desk.bulk_forms import (
    ACTION_PERMISSIONS,
    ACTION_REFUSALS,
    ACTIONS,
    BulkForm,
    selected_references,
)
from desk.desk import staff_required
from escalation.services import ladder
from recovery import access, rules
from recovery.services import macros as macro_services
from recovery.services import routing, sla

SESSION_KEY = "desk-bulk-result"


def _back(post) -> str:
    # Only a desk queue: the form says which one it came from; nothing else is followed.
    back = post.get("back", "")
    return back if back.startswith("/desk/") and not back.startswith("//") else "/desk/"


@staff_required
def bulk(request):
    if request.method != "POST":
        result = request.session.get(SESSION_KEY)
        return render(request, "desk/bulk_result.html", {"result": result, "nav": ""})
    back = _back(request.POST)
    references, problem = selected_references(request.POST)
    form = BulkForm(request.POST, user=request.user)
    if not form.is_valid() or problem:
        problems = [problem] if problem else []
        problems += [str(message) for messages in form.errors.values() for message in messages]
        return render(
            request,
            "desk/bulk_result.html",
            {"problems": problems, "back": back, "nav": ""},
            status=400,
        )
    action = form.cleaned_data["action"]
    permission = ACTION_PERMISSIONS.get(action)
    if permission and not request.user.has_perm(permission):
        return render(request, "403.html", {"exception": ACTION_REFUSALS[action]}, status=403)
    rows = _run(request.user, action, form.cleaned_data, references)
    request.session[SESSION_KEY] = {
        "action": str(ACTIONS[action]),
        "rows": rows,
        "done": sum(1 for row in rows if row["done"]),
        "refused": sum(1 for row in rows if not row["done"]),
        "back": back,
    }
    return redirect("desk:bulk")


def _run(user, action: str, data: dict, references: list[str]) -> list[dict]:
    """Each complaint through its own service call; what each did or why it was refused."""
    found = {
        complaint.reference: complaint
        for complaint in access.complaints_visible_to(user)
        .filter(reference__in=references)
        .select_related("customer", "team")
    }
    step = _STEPS[action]
    rows = []
    for reference in references:
        complaint = found.get(reference)
        if complaint is None:
            rows.append(_row(reference, False, _absent(user, reference)))
            continue
        if not rules.works_on(complaint, user):
            team = complaint.team.name if complaint.team else _("no team")
            rows.append(
                _row(
                    reference,
                    False,
                    _("It is in the %(team)s team's queue, which you do not work.")
                    % {"team": team},
                )
            )
            continue
        try:
            step(user, complaint, data)
        except RedressError as error:
            rows.append(_row(reference, False, error.message))
        else:
            rows.append(_row(reference, True, ""))
    return rows


def _absent(user, reference: str) -> str:
    """Why ``reference`` was not found among the complaints ``user`` may see. Someone who
    sees every complaint is told it does not exist; anyone else reads the same words for a
    complaint that does not exist and one out of their sight, which is not confirmed."""
    if rules.sees_every_complaint(user):
        return _("There is no complaint %(reference)s.") % {"reference": reference}
    return _("No complaint you may work on has the reference %(reference)s.") % {
        "reference": reference
    }


def _row(reference: str, done: bool, message: str) -> dict:
    return {"reference": reference, "done": done, "message": str(message)}


def _reason(data: dict) -> str:
    return (data.get("reason") or "").strip()


_STEPS = {
    "assign": lambda user, complaint, data: sla.complaint_hand_out(
        complaint=complaint,
        assignee=data["assignee"],
        actor=user,
        reason=_reason(data) or _("bulk assignment"),
    ),
    "move": lambda user, complaint, data: routing.complaint_move_team(
        complaint=complaint, team=data["team"], actor=user, reason=_reason(data)
    ),
    "escalate": lambda user, complaint, data: ladder.complaint_escalate_by_hand(
        complaint=complaint, actor=user, direction="up", reason=_reason(data)
    ),
    "hold": lambda user, complaint, data: _hold(user, complaint, data),
    "macro": lambda user, complaint, data: macro_services.macro_use(
        complaint=complaint, actor=user, macro_id=data["macro"]
    ),
}


def _hold(user, complaint, data) -> None:
    if complaint.awaiting_customer:
        # Said rather than silently done: the supervisor may expect a fresh pause.
        raise ValidationFailed(_("It is already on hold."))
    sla.complaint_set_awaiting_customer(
        complaint=complaint, actor=user, awaiting=True, reason=_reason(data)
    )
