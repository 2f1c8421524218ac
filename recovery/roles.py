"""Who is who: the four roles of Redress, as Django groups with real permissions.

``ensure_role_groups`` is called by a data migration and by ``seed_demo``; the permission
lists here are the single source of what each role may do.
"""

from django.contrib.auth.models import Group, Permission

AGENT = "agents"
SUPERVISOR = "supervisors"
COMPLAINTS_MANAGER = "complaints_managers"
HEAD_OF_CX = "head_of_cx"
CUSTOMER = "customers"
# Accounts made by seed_demo; refused at login by production settings.
DEMO = "demo_accounts"

STAFF_ROLES = (AGENT, SUPERVISOR, COMPLAINTS_MANAGER, HEAD_OF_CX)

_AGENT_PERMISSIONS = [
    "recovery.view_complaint",
    "recovery.add_complaint",
    "recovery.acknowledge_complaint",
    "recovery.resolve_complaint",
    "recovery.close_loop_complaint",
    "recovery.withdraw_complaint",
    "recovery.add_internal_note",
    "recovery.view_customer",
    "recovery.add_customer",
    "recovery.propose_recoveryaction",
    "recovery.view_recoveryaction",
    "recovery.view_survey",
]
_SUPERVISOR_PERMISSIONS = [
    *_AGENT_PERMISSIONS,
    "recovery.reopen_complaint",
    "recovery.work_any_complaint",
    "recovery.escalate_complaint",
    "recovery.assign_complaint",
    "recovery.change_regulation_complaint",
    "recovery.change_complaint",
    "recovery.view_complaintevent",
    "recovery.view_message",
    "recovery.view_team",
    "recovery.change_team",
    # The customer's segment, which routing rules and SLA policies match on.
    "recovery.change_customer",
    "recovery.view_routingrule",
    "recovery.view_rootcause",
    "recovery.decide_recoveryaction",
    "recovery.view_correctiveaction",
    "recovery.view_approvallimit",
    "recovery.view_recoveryguideline",
]
_MANAGER_PERMISSIONS = [
    *_SUPERVISOR_PERMISSIONS,
    "recovery.add_rootcause",
    "recovery.change_rootcause",
    "recovery.add_category",
    "recovery.change_category",
    "recovery.view_category",
    "recovery.add_touchpoint",
    "recovery.change_touchpoint",
    "recovery.view_touchpoint",
    "recovery.add_journeystage",
    "recovery.change_journeystage",
    "recovery.view_journeystage",
    "recovery.add_team",
    "recovery.add_routingrule",
    "recovery.change_routingrule",
    "recovery.delete_routingrule",
    "recovery.add_correctiveaction",
    "recovery.change_correctiveaction",
    "recovery.add_approvallimit",
    "recovery.change_approvallimit",
    "recovery.add_recoveryguideline",
    "recovery.change_recoveryguideline",
    "recovery.delete_recoveryguideline",
    # To find an account in the admin and reset its second factor (a lost phone).
    "auth.view_user",
]
ROLE_PERMISSIONS = {
    AGENT: _AGENT_PERMISSIONS,
    SUPERVISOR: _SUPERVISOR_PERMISSIONS,
    COMPLAINTS_MANAGER: _MANAGER_PERMISSIONS,
    # The last rung of the escalation ladder: sees and may act on everything a manager can.
    HEAD_OF_CX: _MANAGER_PERMISSIONS,
    # Customers act on their own complaints only; the rules check ownership, not permissions.
    CUSTOMER: [],
    DEMO: [],
}


def ensure_role_groups() -> dict[str, Group]:
    """Create the role groups and (re)grant exactly their permissions; idempotent."""
    groups = {}
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
        groups[name] = group
    return groups


def has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return role in group_names(user)


def group_names(user) -> frozenset[str]:
    """The names of the user's groups, read once per user object (that is, per request):
    rules and permissions ask several times."""
    names = getattr(user, "_redress_groups", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._redress_groups = names
    return names


def is_staff_member(user) -> bool:
    """Staff: a superuser, or a member of a staff role's group. The one definition; asked of
    many accounts at once, it is ``staff_members``."""
    return user.is_superuser or any(has_role(user, role) for role in STAFF_ROLES)


def staff_members():
    """Active accounts that ``is_staff_member`` says are staff, as one query."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name__in=STAFF_ROLES), is_active=True)
        .distinct()
    )


def is_customer(user) -> bool:
    return has_role(user, CUSTOMER) and not is_staff_member(user)
