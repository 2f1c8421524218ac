"""``@username`` in an internal note: who is told, and who could not be.

A note that names a colleague (``@sam.lee``) tells them through the staff inbox and a live
push, as any event does (``notifications.delivery``), once per note, and never its author.
Only an active member of staff who may see the complaint (``rules.may_view``) is told: a
note must not reach someone the access policy keeps from the complaint. A name that is no
active member of staff, or one who may not see it, is recorded on the note's timeline event
as not told, with why, and the desk shows it under the note.
"""

import re
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q

from recovery import roles, rules

# Usernames as Django's validator allows them, but for "@" (an address such as
# ann@example.com is not a mention: the lookbehind leaves it out). A trailing full stop is
# the end of a sentence ("ask @sam.").
MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]+)")
# More names than any note needs: the look-up is one query with an IN list, kept short.
MAX_MENTIONS = 20

UNKNOWN = "unknown"
NO_ACCESS = "no_access"


@dataclass(frozen=True)
class Mentions:
    notified: list = field(default_factory=list)  # users told, in the order named
    not_notified: list = field(default_factory=list)  # {"username", "why"}, in order

    @property
    def parameters(self) -> dict:
        """What the note's timeline event keeps (empty when the note names nobody)."""
        found = {}
        if self.notified:
            found["mentioned"] = [user.get_username() for user in self.notified]
        if self.not_notified:
            found["not_notified"] = self.not_notified
        return found


def mentioned_names(body: str) -> list[str]:
    """The usernames a note names, first mention first, each once (case as written)."""
    names: list[str] = []
    seen = set()
    for match in MENTION.finditer(body or ""):
        name = match.group(1).rstrip(".")
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
        if len(names) == MAX_MENTIONS:
            break
    return names


def resolve(complaint, author, body: str) -> Mentions:
    """Who of those named in ``body`` is told of the note on ``complaint``."""
    names = mentioned_names(body)
    if not names:
        return Mentions()
    # Usernames are matched without regard to case ("@Sam" is sam), as people type them.
    staff = {
        user.get_username().lower(): user
        for user in roles.staff_members().filter(
            reduce(or_, (Q(username__iexact=name) for name in names))
        )
    }
    notified, not_notified = [], []
    for name in names:
        user = staff.get(name.lower())
        if user is None:
            not_notified.append({"username": name, "why": UNKNOWN})
        elif user.pk == getattr(author, "pk", None):
            continue  # naming oneself tells nobody, and is no failure
        elif not rules.may_view(complaint, user):
            not_notified.append({"username": user.get_username(), "why": NO_ACCESS})
        else:
            notified.append(user)
    return Mentions(notified, not_notified)
