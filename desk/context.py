"""Template context for the desk's header: the notification bell and the held-mail count,
computed only when shown."""

from desk import view_counts
from notifications import inbox
from notifications import selectors as notifications_selectors
from recovery import roles
from recovery import selectors as recovery_selectors


def desk(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def is_staff() -> bool:
        return roles.is_staff_member(user)

    def unread() -> int:
        # Called by the template only on desk pages, so other pages (the admin, the
        # portal) pay no query for it.
        return inbox.unread_count(user)

    def is_supervisor() -> bool:
        return user.has_perm("recovery.work_any_complaint")

    def may_approve() -> bool:
        return user.has_perm("recovery.decide_recoveryaction")

    def approvals_waiting() -> int:
        # Shown beside the Approvals link to those who may approve: one count (the approvals
        # page itself passes its own list's length instead).
        return recovery_selectors.approvals_waiting_count(user)

    def may_review_mail() -> bool:
        return notifications_selectors.may_open_review_queue(user)

    def review_count() -> int:
        # Emails waiting for this user's review (held on complaints they work, quarantined
        # for supervisors and up): two counts over partial indexes, on desk pages only.
        return notifications_selectors.review_count(user)

    def saved_views() -> list:
        # The reader's saved views with their counts (desk.view_counts): from the cache,
        # which holds them for half a minute, on desk pages only.
        return view_counts.menu(user) if is_staff() else []

    return {
        "desk_saved_views": saved_views,
        "desk_may_review_mail": may_review_mail,
        "desk_review_count": review_count,
        "desk_may_approve": may_approve,
        "desk_approvals_waiting": approvals_waiting,
        "desk_is_staff": is_staff,
        "desk_unread_count": unread,
        "desk_is_supervisor": is_supervisor,
    }
