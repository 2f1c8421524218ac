"""Configuration that changes rarely, read once per process and kept until it changes.

Policies with their targets, calendars with their closures, ladders, routing rules, teams,
the taxonomy, the recovery guide, the desk's macros and the role groups' permissions are read by every intake, detail and
transition, and change a few times a year. ``cached(name, loader)`` keeps what ``loader``
returns in this process until one of the watched models changes:

1. A change writes a new random token into the one ``ConfigurationVersion`` row, inside
   the changing transaction: on PostgreSQL a statement trigger on each watched table does
   it (migrations 0007-0009), so ``QuerySet.update``, raw SQL and other programs are seen too;
   elsewhere (SQLite) the model signals do. The signals also drop this process's copies.
2. Every process compares that token with the one its copies were read under, at most once
   per request or Celery task (``request_started``, ``task_prerun``) and on every call
   outside them (shells, commands): one indexed single-row read instead of a read of each
   table, which an API request's token authentication brings along in its own query
   (``token_query``). A different token, or none, drops the copies.
3. A token is random, not a counter, so that a database emptied and filled again (a test
   flush, a restore) never hands back a token a process already holds.

Cached objects are shared by every request of the process: treat them as read-only.
"""

import secrets
import threading

from django.db import connection, transaction

_lock = threading.Lock()
_values: dict[str, object] = {}
# The token the copies in ``_values`` were read under; a missing row reads as None.
_token: object = "unread"
# Whether the token was compared since the current request or task began.
_checked = False
_in_scope = False


def cached(name: str, loader):
    """``loader()``'s value, read once per process until the configuration changes."""
    from django.conf import settings

    # Off in the general test suite, whose tests roll rows back under a process that lives
    # on; the tests of this module and of the query budgets turn it on.
    if not getattr(settings, "REDRESS_CONFIGURATION_CACHE", True):
        return loader()
    _check()
    try:
        return _values[name]
    except KeyError:
        value = loader()
        with _lock:
            _values[name] = value
        return value


# The tables whose rows are cached; migrations 0007, 0008 (root causes), 0009 (the
# recovery guide) and 0010 (the desk's macros) put the
# PostgreSQL triggers on them (a table added here needs its trigger in a new migration).
WATCHED_TABLES = (
    "escalation_businesscalendar",
    "escalation_calendarclosure",
    "escalation_escalationladder",
    "escalation_escalationlevel",
    "escalation_slapolicy",
    "escalation_slatarget",
    "recovery_routingrule",
    "recovery_team",
    "recovery_category",
    "recovery_touchpoint",
    "recovery_journeystage",
    "recovery_rootcause",
    "recovery_recoveryguideline",
    "recovery_macro",
    "auth_group",
    "auth_group_permissions",
    "auth_permission",
)


def changed(**_signal_kwargs) -> None:
    """Record a configuration change: a new token for every process, and drop ours."""
    from escalation.models import ConfigurationVersion

    if connection.vendor != "postgresql":  # PostgreSQL's triggers have written it already
        table = connection.ops.quote_name(ConfigurationVersion._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (id, token) VALUES (1, %s) "  # noqa: S608
                "ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token",
                [secrets.randbits(62)],
            )
    forget()
    # A transaction that reads the configuration after this change caches it under the new
    # token; if it rolls back, the token in the database differs again and the copy goes.
    transaction.on_commit(forget)


def forget(**_signal_kwargs) -> None:
    """Drop this process's copies; the next read loads them again."""
    global _token, _checked
    with _lock:
        _values.clear()
        _token = "unread"
        _checked = False


def scope_started(**_signal_kwargs) -> None:
    """A request or task begins: compare the token once, on the first read."""
    global _checked, _in_scope
    _checked = False
    _in_scope = True


def scope_finished(**_signal_kwargs) -> None:
    """Code that runs after it (a shell, a command, a test) compares on every read."""
    global _checked, _in_scope
    _checked = False
    _in_scope = False


def token_query():
    """The token as a subquery, for a query a request sends anyway (token authentication)
    to bring along; hand what it read to ``token_read``."""
    from django.db.models import Subquery

    from escalation.models import ConfigurationVersion

    return Subquery(ConfigurationVersion.objects.filter(pk=1).values("token")[:1])


def token_read(current) -> None:
    """Compare a token read by this request's own query: the request sends no other."""
    if _in_scope:
        _compare(current)


def _check() -> None:
    if _checked:
        return
    from escalation.models import ConfigurationVersion

    _compare(ConfigurationVersion.objects.filter(pk=1).values_list("token", flat=True).first())


def _compare(current) -> None:
    global _token, _checked
    with _lock:
        if current != _token:
            _values.clear()
            _token = current
        # Outside a request or task nothing would ever compare it again: compare each time.
        _checked = _in_scope


def connect_signals() -> None:
    """Watch the models whose rows are cached (called from the apps' ``ready``)."""
    from django.contrib.auth.models import Group
    from django.core.signals import request_finished, request_started
    from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

    from escalation.models import (
        BusinessCalendar,
        CalendarClosure,
        EscalationLadder,
        EscalationLevel,
        SlaPolicy,
        SlaTarget,
    )
    from recovery.models import (
        Category,
        JourneyStage,
        Macro,
        RecoveryGuideline,
        RootCause,
        RoutingRule,
        Team,
        Touchpoint,
    )

    watched = (
        BusinessCalendar,
        CalendarClosure,
        EscalationLadder,
        EscalationLevel,
        SlaPolicy,
        SlaTarget,
        RoutingRule,
        Team,
        Category,
        Touchpoint,
        JourneyStage,
        RootCause,
        RecoveryGuideline,
        Macro,
        Group,
    )
    for model in watched:
        uid = f"configuration-{model._meta.label_lower}"
        post_save.connect(changed, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(changed, sender=model, dispatch_uid=f"{uid}-delete")
    m2m_changed.connect(
        _permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid="configuration-group-permissions",
    )
    # A flush (transactional tests) or a migration rewrites tables without model signals.
    post_migrate.connect(forget, dispatch_uid="configuration-migrate")
    request_started.connect(scope_started, dispatch_uid="configuration-request")
    request_finished.connect(scope_finished, dispatch_uid="configuration-request-end")
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(scope_started, weak=False, dispatch_uid="configuration-task")
    task_postrun.connect(scope_finished, weak=False, dispatch_uid="configuration-task-end")


def _permissions_changed(action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        changed()
