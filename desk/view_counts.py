"""The saved views in the desk's menu, each with how many complaints it holds now.

Every desk page shows them, so they are kept in the cache for ``MENU_SECONDS`` per person:
a page served from the cache sends no statement for them. When the cache has none, two
statements: the person's views, then every view's count in one ``SELECT`` (each capped, as
the queue's own count is). Saving or deleting a view forgets the menus of everyone who
sees it (``forget``), so a new view is in its owner's menu at once.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from desk import forms, selectors
from recovery import access

# How long a menu's counts may lag behind the queue: a complaint taken or closed shows in
# the counts within half a minute, and a desk in constant use counts each view twice a
# minute at most, whatever the number of pages it opens.
MENU_SECONDS = 30
# As the queue's own count (desk.desk.QUEUE_COUNT_CAP): "more than 1,000".
COUNT_CAP = 1000


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A saved view as the menu shows it and its page opens it (``SavedView``'s columns)."""

    pk: int
    name: str
    scope: str
    parameters: dict
    columns: list
    owner_id: int
    team_id: int | None  # shared with this team; None: the owner's own
    count: int  # at most COUNT_CAP
    more_than_cap: bool

    @property
    def shared(self) -> bool:
        return self.team_id is not None


def _key(user_id: int) -> str:
    return f"desk-saved-views:{user_id}"


def menu(user) -> list[MenuEntry]:
    """The views ``user`` may open (their own, then those shared with their teams, each by
    name), with their counts; from the cache when it has them."""
    key = _key(user.pk)
    entries = cache.get(key)
    if entries is None:
        entries = _menu(user)
        cache.set(key, entries, MENU_SECONDS)
    return entries


def cached_menu(user) -> list[MenuEntry]:
    """The menu if the cache holds it, else none: for pages held to a statement budget (the
    complaint page), which show the views the queue last counted rather than count them."""
    return cache.get(_key(user.pk)) or []


def forget(user_ids) -> None:
    """Drop the cached menus of these people (after a view they see changed)."""
    cache.delete_many([_key(user_id) for user_id in set(user_ids)])


def entry(user, view_id: int) -> MenuEntry | None:
    """The saved view ``view_id`` if ``user`` may open it, from their menu: a view's page
    reads no row of its own while the menu is cached (so it may be up to MENU_SECONDS late
    to notice its reader left the team it is shared with)."""
    return next((found for found in menu(user) if found.pk == view_id), None)


def _menu(user) -> list[MenuEntry]:
    fields = ("pk", "name", "scope", "parameters", "columns", "owner_id", "team_id")
    views = [
        dict(zip(fields, row, strict=True))
        for row in (access.saved_views_visible_to(user).order_by().values_list(*fields))
    ]
    # The reader's own first, then those shared with them; each by name.
    views.sort(key=lambda view: (view["owner_id"] != user.pk, view["name"].casefold(), view["pk"]))
    counts = view_counts(user, [(view["scope"], view["parameters"]) for view in views])
    return [
        MenuEntry(**view, count=min(count, COUNT_CAP), more_than_cap=count > COUNT_CAP)
        for view, count in zip(views, counts, strict=True)
    ]


def view_counts(user, views: list[tuple[str, dict]]) -> list[int]:
    """How many complaints each queue (scope, GET parameters) holds for ``user``, up to
    ``COUNT_CAP`` + 1, in one statement: ``SELECT (SELECT count(*) FROM (… LIMIT 1001)),
    …``. A parameter the queue's form refuses is left out, as the queue page leaves it."""
    if not views:
        return []
    choices = selectors.queue_filter_choices()
    now = timezone.now()
    parts, parameters = [], []
    for scope, data in views:
        filters = forms.QueueFilterForm(
            data,
            teams=choices["team"],
            categories=choices["category"],
            root_causes=choices["root_cause"],
        )
        filters.is_valid()
        query = filters.queue_query(scope)
        # As the queue counts (desk.selectors.queue_count): in its indexed order.
        order = selectors.QUEUE_RECEIVED_ORDERS.get(query.sort, selectors.QUEUE_ORDER)
        counted = selectors.queue(user, query, now).order_by(*order).values("pk")[: COUNT_CAP + 1]
        sql, params = counted.query.sql_with_params()
        # The ORM's own SQL, its values in ``params``: nothing of the request is in the text.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted_{len(parts)})")  # noqa: S608
        parameters.extend(params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), parameters)
        return list(cursor.fetchone())
