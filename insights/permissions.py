"""Who may see the insights: supervisors, complaints managers and the head of CX.

The role permissions (recovery/roles.py) already draw that line: the root-cause taxonomy and
the corrective actions are visible to supervisors and above, never to agents or customers.
"""

from rest_framework.permissions import BasePermission

# Insights are about root causes: who may browse the taxonomy may see what it explains.
VIEW_INSIGHTS = "recovery.view_rootcause"
# A corrective action's effectiveness is part of the action.
VIEW_CORRECTIVE_ACTIONS = "recovery.view_correctiveaction"


def may_view_insights(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(VIEW_INSIGHTS))


def may_view_corrective_actions(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(VIEW_CORRECTIVE_ACTIONS))


class CanViewInsights(BasePermission):
    message = "Insights are for supervisors and complaints managers."

    def has_permission(self, request, view) -> bool:
        return may_view_insights(request.user)


class CanViewCorrectiveActions(BasePermission):
    message = "Corrective actions are for supervisors and complaints managers."

    def has_permission(self, request, view) -> bool:
        return may_view_corrective_actions(request.user)
