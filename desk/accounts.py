"""The account that opens complaints sent through the public form."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from recovery import roles

# Intake opens a complaint for a customer without a login only when a staff member submits
# it (recovery.services.intake). This account is that staff member for the public form:
# inactive, with an unusable password, so it can never sign in; its agents group
# membership only makes intake treat it as staff. Timeline events of complaints sent
# through the form name it as the actor (inbound email has its own, ``inbound-email``).
PORTAL_ACCOUNT_USERNAME = "web-form"


def portal_account():
    user, created = get_user_model().objects.get_or_create(
        username=PORTAL_ACCOUNT_USERNAME,
        defaults={"is_active": False, "first_name": "Web", "last_name": "form"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if not roles.has_role(user, roles.AGENT):
        agents = Group.objects.filter(name=roles.AGENT).first()
        user.groups.add(agents or roles.ensure_role_groups()[roles.AGENT])
        user._redress_groups = None  # roles.has_role caches group names on the instance
    return user
