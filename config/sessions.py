"""Django's database sessions, with the session's read compiled once per process.

Every signed-in page reads its session first; Django built that one-row read's SQL on each
request (``common.compiled_queries``). Same rows, same answers: an expired session reads as
none, as Django's own ``expire_date > now`` filter has it, only compared here.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from common.compiled_queries import CompiledQuery


def _session(session_key: str):
    from django.contrib.sessions.models import Session

    return Session.objects.filter(session_key=session_key)


_SESSION = CompiledQuery(_session, session_key=str)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        using = router.db_for_read(self.model)
        if connections[using].vendor != "postgresql":
            return super()._get_session_from_db()
        found = _SESSION.run(using, session_key=self.session_key)
        if found and found[0].expire_date > timezone.now():
            return found[0]
        self._session_key = None
        return None
