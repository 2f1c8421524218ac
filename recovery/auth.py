"""Authentication rules of Redress on top of Django's model backend."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from recovery import roles


class RedressModelBackend(ModelBackend):
    """Django's backend, except that demo accounts only log in where demos are allowed.

    ``seed_demo`` creates accounts with the well-known password ``demo``; on a production
    deployment (``REDRESS_DEMO`` off) they must not open a door even if the data is there.
    """

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return settings.REDRESS_DEMO or not roles.has_role(user, roles.DEMO)
