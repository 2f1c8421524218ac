"""Reads of the web pages, each a fixed number of queries whatever the page holds.

The queue pages sort by urgency (``Complaint.urgency`` and its most overdue or next
deadline, the read-side copy of the clocks), find a page's ids first on the open complaints'
urgency indexes (migration ``recovery.0030_queue_urgency``), read only those rows, and flag
them from their clocks in one query: the page costs the same whether it is the first or the
hundredth, and whether its rows are calm or on fire.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    Exists,
    Expression,
    F,
    Func,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext as _

from common.compiled_queries import CompiledQuery
from common.json_rows import instance, json_rows
from common.template_dates import formatted
from desk import search_terms
from escalation import configuration, deadlines, regulatory
from escalation.models import Clock, ClockKind, ClockState
from escalation.services.clocks import clock_calendar
from notifications import inbox, presence
from notifications import selectors as notifications_selectors
from notifications.models import Outbox
from recovery import access, attachment_selectors, roles, rules
from recovery.models import (
    OPEN_STATES,
    STAFF_ONLY_EVENT_TYPES,
    Category,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Customer,
    EventType,
    Macro,
    MacroVisibility,
    Message,
    MessageDirection,
    MessageKind,
    Outcome,
    RecoveryAction,
    RootCause,
    Survey,
    Team,
    Urgency,
)
from recovery.selectors import ASSIGNEE_ROW, approvals_waiting_subquery

# How many recently used root causes the resolve form offers first: about a screenful.
RECENT_ROOT_CAUSES = 8
# How many of the latest resolutions (the person's and their team's) they are taken from.
RECENT_RESOLUTIONS = 50


def recent_root_causes(*, user, team_id: int | None, complaint=None) -> list[str]:
    """Codes of the root causes ``user`` recorded most recently, then those their complaint's
    team recorded, newest first (from the timeline's ``resolved`` events, which keep the
    codes as they were chosen): what the resolve form offers before anyone types. From the
    rows the complaint page's read brought (``page_annotations``), else one query."""
    rows = getattr(complaint, RECENT_RESOLUTION_ROWS, None)
    if rows is None:
        rows = _recent_resolutions(user.pk, team_id).values("actor_id", "parameters")
    own: list[str] = []
    team: list[str] = []
    for row in rows:
        causes = (row["parameters"] or {}).get("root_causes") or []
        (own if row["actor_id"] == user.pk else team).extend(causes)
    return list(dict.fromkeys(own + team))[:RECENT_ROOT_CAUSES]


def _recent_resolutions(user_id, team_id) -> QuerySet:
    scope = Q(actor_id=user_id)
    if team_id is not None:
        scope |= Q(complaint__team_id=team_id)
    return ComplaintEvent.objects.filter(scope, type=EventType.RESOLVED).order_by("-id")[
        :RECENT_RESOLUTIONS
    ]


REFERENCE_PATTERN = re.compile(r"^[A-Za-z]{2,10}-\d{4}-\d{1,8}$")
# A reference's trailing number as a caller reads it: "000057" or "57" for RDR-2026-000057.
REFERENCE_NUMBER_PATTERN = re.compile(r"^\d{1,8}$")
# Columns the queue never shows: kept out of the page's query so long stories are not read.
QUEUE_DEFERRED = ("description", "remedy_sought", "resolution_summary", "withdrawal_reason")
# What a queue row shows, read as plain values: building a model instance for each row and
# for its customer, team and assignee (150 a page, each running django-fsm's set-up) cost
# more than the rest of the page's reads.
QUEUE_COLUMNS = (
    "pk",
    "reference",
    "subject",
    "state",
    "awaiting_customer",
    "escalation_level",
    "next_deadline_at",
    "next_statutory_deadline_at",
    "urgency",
    "overdue_since",
    "overdue_kind",
    "regulatory_profile",
    "jurisdiction",
    "received_at",
    "customer__name",
    "team_id",
    "team__name",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
    "breached",
    "at_risk",
)
# Most urgent first (Urgency: a breached statutory duty, breached, at risk, on track, no
# deadline), then the most overdue deadline or, for those not overdue, the soonest; the id
# breaks ties so that pages never overlap. The open complaints' urgency indexes
# (complaint_open_urgency_idx, complaint_mine_urgency_idx) hold the same order, so a page is
# a range of one.
QUEUE_ORDER = (
    F("urgency").asc(),
    Coalesce("overdue_since", "next_deadline_at").asc(nulls_last=True),
    "id",
)
# The other orders a queue may be asked for (``sort``); the id breaks ties.
QUEUE_RECEIVED_ORDERS = {
    "newest": (F("received_at").desc(), F("id").desc()),
    "oldest": (F("received_at").asc(), F("id").asc()),
}
# A search for words ranks its most urgent matches only, this many: as many as the queue
# counts (desk.desk.QUEUE_COUNT_CAP, "more than 1,000"), 20 pages of 50.
SEARCH_CANDIDATES = 1001
# Text search: PostgreSQL's English configuration with the accents taken off first
# (``redress_english``, migration recovery.0041: "cafe" finds "Café"; stems "charged" to
# "charg", so "charge" finds it; drops words such as "the"). The generated columns
# ``search_document`` of the complaint and the message are built with it.
SEARCH_CONFIG = "redress_english"
# The board lists at most this many complaints per section; beyond that a supervisor has a
# crisis that a longer list would not help with, and the counts still say how many.
BOARD_LIMIT = 200


@dataclass(slots=True)
class QueueRow:
    """A row of a queue page: the complaint as the table shows it."""

    pk: int
    reference: str
    subject: str
    state: str
    awaiting_customer: bool
    escalation_level: int
    next_deadline_at: datetime | None
    next_statutory_deadline_at: datetime | None
    urgency: int
    overdue_since: datetime | None  # the most overdue unanswered deadline's due time
    overdue_kind: str  # its clock's kind
    regulatory_profile: str
    jurisdiction: str
    received_at: datetime
    customer_name: str
    team_id: int | None
    team_name: str | None  # None: not routed to a team yet
    assignee_name: str  # "": nobody yet
    breached: bool  # a clock breached and unanswered
    at_risk: bool  # a running clock past its warning time
    status: str = ""  # breached, at_risk, on_track or none; see _set_status
    assignee_username: str = ""  # for the link to their complaints
    deadline_text: str = ""  # "in 3 h", set by the view with the page's clock
    overdue_text: str = ""  # "Resolve overdue by 3 h", likewise


@dataclass(frozen=True)
class QueueQuery:
    scope: str  # "mine", "team" or "unassigned" (the team queue's complaints nobody has)
    q: str = ""
    state: str = "open"
    risk: str = ""
    team: int | None = None
    assignee: str = ""  # "me", "none" (nobody), or a username
    category: int | None = None
    channel: str = ""
    severity: str = ""
    profile: str = ""  # a regulatory profile's code; "none" for complaints under none
    root_cause: str = ""  # a root cause's code: complaints resolved with it or a child of it
    # Every root cause, as queue_filter_choices reads them: (id, code, name, parent id).
    causes: tuple = field(default=(), compare=False, repr=False)
    sort: str = ""  # "" (urgency, or best match for words), "newest" or "oldest"


def queue(user, query: QueueQuery, now: datetime | None = None) -> QuerySet[Complaint]:
    """The agent's queue, soonest deadline first; complaints without a deadline last.

    Only the filter and the order: ``queue_page`` reads a page of it, and flags the risk of
    that page's rows only, rather than an ``EXISTS`` per row of the whole queue (which
    PostgreSQL turns into a scan of every breached and running clock).
    """
    now = now or timezone.now()
    rows = Complaint.objects.all()
    if query.scope == "mine":
        rows = rows.filter(assignee=user)
    elif rules.sees_every_complaint(user):
        # A complaints manager is on no team and answers for every one: their Team queue
        # and Unassigned are the whole organisation's.
        if query.scope == "unassigned":
            rows = rows.filter(assignee__isnull=True)
    else:
        # The user's teams, and complaints not yet routed to any team (everyone's queue
        # until someone takes them, as recovery.rules.works_on says). The teams as read
        # with the user for this request, as values: PostgreSQL then knows from its
        # statistics how many complaints they hold, and for a word in one complaint in
        # seven intersects the words' index with the (state, team) index instead of
        # walking the urgency order through 23,000 rows, which it chose when the teams
        # were a subquery it could not count. Elsewhere (a user read otherwise, SQLite) a
        # subquery, not a query of their own.
        team_ids = access.teams_read_with(user)
        if team_ids is None:
            team_ids = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
        else:
            team_ids = sorted(team_ids)
        rows = rows.filter(Q(team_id__in=team_ids) | Q(team__isnull=True))
        if query.scope == "unassigned":
            # Through complaint_assignee_idx (assignee_id IS NULL, state) or the deadline
            # index with the team, whichever the planner finds fewer rows in.
            rows = rows.filter(assignee__isnull=True)
    text = query.q.strip()
    # A reference names one complaint: the caller quoting theirs is found whatever its
    # state, rather than "no complaints" because the queue shows open ones by default.
    if REFERENCE_PATTERN.match(text):
        pass
    elif query.state == "customer_replied":
        # The marker, not a state (recovery.services.messages); its own index.
        rows = rows.filter(customer_replied_at__isnull=False)
    elif query.state == "open" or not query.state:
        rows = rows.filter(state__in=OPEN_STATES)
    elif query.state != "all":
        rows = rows.filter(state=query.state)
    if query.risk == "breached":
        rows = rows.filter(Q(pk__in=_breached_ids()) | Q(next_deadline_at__lte=now))
    elif query.risk == "at_risk":
        rows = rows.filter(Q(pk__in=_breached_ids()) | _at_risk(now) | Q(next_deadline_at__lte=now))
    rows = rows.filter(_attribute_filters(user, query))
    if query.root_cause:
        causes = _cause_family(
            [pk for pk, code, _name, _parent in query.causes if code == query.root_cause],
            query.causes,
        )
        rows = rows.filter(
            pk__in=ComplaintRootCause.objects.filter(root_cause_id__in=causes).values(
                "complaint_id"
            )
        )
    if text:
        rows = rows.filter(search_filter(text, query.causes))
    return rows.order_by(*queue_order(text, query.sort))


def _attribute_filters(user, query: QueueQuery) -> Q:
    """The filters on the complaint's own columns (each on the row the page reads anyway)."""
    condition = Q()
    if query.team is not None:
        condition &= Q(team_id=query.team)
    if query.assignee == "me":
        condition &= Q(assignee_id=user.pk)
    elif query.assignee == "none":
        condition &= Q(assignee__isnull=True)
    elif query.assignee:
        # The person's id as a subquery, not a join on their username: PostgreSQL then
        # reads My queue's index for that one id (1 ms) rather than walking the team's
        # queue in urgency order for a join it cannot estimate (11 ms at 100,000).
        person = get_user_model().objects.filter(username=query.assignee).values("pk")[:1]
        condition &= Q(assignee_id=Subquery(person))
    if query.category is not None:
        condition &= Q(category_id=query.category)
    if query.channel:
        condition &= Q(channel=query.channel)
    if query.severity:
        condition &= Q(severity=query.severity)
    if query.profile == "none":
        condition &= Q(regulatory_profile="")
    elif query.profile:
        condition &= Q(regulatory_profile=query.profile)
    return condition


def queue_order(text: str = "", sort: str = "") -> tuple:
    """The queue's order: by urgency, or for words searched on PostgreSQL, best match first
    (``ts_rank`` over subject and description; a complaint found by its customer or its
    messages only ranks 0) and by urgency among equals; or, when asked, by the time the
    complaint was received (``complaint_received_idx``), newest or oldest first."""
    if sort in QUEUE_RECEIVED_ORDERS:
        return QUEUE_RECEIVED_ORDERS[sort]
    rank = search_rank(text)
    return QUEUE_ORDER if rank is None else (rank.desc(), *QUEUE_ORDER)


def staff_name(username: str) -> str:
    """The full name (else the username) of the member of staff called ``username``; "" if
    no member of staff is."""
    person = (
        roles.staff_members()
        .filter(username=username)
        .values_list("username", "first_name", "last_name")
        .first()
    )
    return "" if person is None else _person_name(*person)


def _person_name(username: str, first_name: str, last_name: str) -> str:
    # As the display_name filter: User.get_full_name(), else the username.
    return f"{first_name} {last_name}".strip() or username


def queue_filter_choices() -> dict[str, list[tuple]]:
    """The teams and the categories the queue's filters offer, by name, the macros its
    bulk actions offer (id, name, owner id, team id, visibility), and the root causes (id,
    code, name, parent id; by code) it filters and searches by: the configuration held in
    memory (read in one query when it changes, none otherwise)."""

    def load():
        # One query for the four lists: (kind, id, name, owner, team, text) rows of each
        # table (a root cause's parent as its owner; the text a macro's visibility or a
        # cause's code). Typed: two untyped NULLs would make the union's column text, not
        # an id.
        nothing = Cast(Value(None), IntegerField())
        no_text = Value("", output_field=CharField())
        columns = ("kind", "pk", "name", "for_owner", "for_team", "text")
        teams = (
            Team.objects.order_by()
            .annotate(kind=Value("team"), for_owner=nothing, for_team=nothing, text=no_text)
            .values_list(*columns)
        )
        categories = (
            Category.objects.order_by()
            .annotate(kind=Value("category"), for_owner=nothing, for_team=nothing, text=no_text)
            .values_list(*columns)
        )
        macros = (
            Macro.objects.order_by()
            .filter(archived_at__isnull=True)
            .annotate(
                kind=Value("macro"),
                for_owner=F("owner_id"),
                for_team=F("team_id"),
                text=F("visibility"),
            )
            .values_list(*columns)
        )
        causes = (
            RootCause.objects.order_by()
            .annotate(
                kind=Value("root_cause"),
                for_owner=F("parent_id"),
                for_team=nothing,
                text=F("code"),
            )
            .values_list(*columns)
        )
        choices: dict[str, list[tuple]] = {
            "team": [],
            "category": [],
            "macro": [],
            "root_cause": [],
        }
        for kind, pk, name, owner, for_team, text in teams.union(
            categories, macros, causes, all=True
        ):
            if kind == "macro":
                choices[kind].append((pk, name, owner, for_team, text))
            elif kind == "root_cause":
                choices[kind].append((pk, text, name, owner))
            else:
                choices[kind].append((pk, name))
        for kind, rows in choices.items():
            if kind == "root_cause":
                rows.sort(key=lambda row: row[1])
            else:
                rows.sort(key=lambda row: row[1].casefold())
        return choices

    return configuration.cached("desk-queue-filter-choices", load)


def _cause_family(ids: list[int], causes) -> list[int]:
    """The root causes ``ids`` and every cause under them (children, grandchildren, …), of
    ``causes`` (as ``queue_filter_choices`` reads them)."""
    children: dict[int, list[int]] = {}
    for pk, _code, _name, parent in causes:
        children.setdefault(parent, []).append(pk)
    family, todo = set(), list(ids)
    while todo:
        pk = todo.pop()
        if pk not in family:
            family.add(pk)
            todo.extend(children.get(pk, ()))
    return sorted(family)


# The shortest word that names root causes on its own.
CAUSE_WORD_MIN = 3


def _causes_named(groups: list[list[search_terms.Term]], causes) -> list[int]:
    """The root causes (and those under them) whose name has a word starting with each word
    of one of the search's alternatives: "duplicate charge" and "dup charg" name the cause
    Duplicate charge; "charge" does not name "Surcharged" and a word shorter than
    ``CAUSE_WORD_MIN`` letters alone names none (it would name most causes, and the
    complaints of all of them). Matched in memory, on the causes the queue's configuration
    holds, so it costs no query."""
    alternatives = []
    for group in groups:
        words = [search_terms.fold(w) for t in group if not t.excluded for w in t.words]
        if words and max(len(word) for word in words) >= CAUSE_WORD_MIN:
            alternatives.append(words)
    found = []
    for pk, _code, name, _parent in causes if alternatives else ():
        named = re.findall(r"\w+", search_terms.fold(name))
        for words in alternatives:
            if all(any(part.startswith(word) for part in named) for word in words):
                found.append(pk)
                break
    return _cause_family(found, causes) if found else []


def _complaints_with_causes(causes: list[int]) -> Q:
    """Complaints resolved with one of the root causes ``causes``: as the customers' condition
    (``_customers_matching``), an array on PostgreSQL, read on the causes' index."""
    complaints = (
        ComplaintRootCause.objects.filter(root_cause_id__in=causes)
        .order_by()
        .values("complaint_id")
    )
    if connection.vendor != "postgresql":
        return Q(pk__in=complaints)
    from django.contrib.postgres.expressions import ArraySubquery

    return Q(_EqualsAny(F("pk"), ArraySubquery(complaints)))


@dataclass(frozen=True, slots=True)
class RankedMatches:
    """A search for words: the ids of the matches to rank, best match first, and how many
    matches the queue holds, counted no further than the cap + 1 (as ``queue_count``)."""

    ids: list[int]
    count: int


def ranked_matches(
    rows: QuerySet[Complaint], text: str, cap: int, sort: str = ""
) -> RankedMatches | None:
    """For a search for words on PostgreSQL (ranked, best match first), in one query: the
    ``SEARCH_CANDIDATES`` most urgent matches of the queue ``rows``, best match first and by
    urgency among equals, and their count up to ``cap`` + 1; None for any other queue.

    The matches are read once, in the urgency order with each one's rank, for the page and
    for the count alike: a word in one complaint in seven (a courier named in the notes)
    has thousands of matches, found through its GIN index and read from the table; ranking
    them in one query and counting them in another read them twice, and looked each of the
    1,001 up again by its id to rank it.
    """
    rank = None if sort else search_rank(text)
    if rank is None:
        return None
    found = list(
        rows.order_by(*QUEUE_ORDER)
        .annotate(match_rank=rank)
        .values_list("pk", "match_rank")[: max(SEARCH_CANDIDATES, cap + 1)]
    )
    candidates = found[:SEARCH_CANDIDATES]
    # Stable: equal ranks stay in the urgency order they were read in.
    candidates.sort(key=lambda match: -match[1])
    return RankedMatches(ids=[pk for pk, _rank in candidates], count=len(found))


def queue_page(
    rows: QuerySet[Complaint],
    offset: int,
    size: int,
    now: datetime,
    text: str = "",
    sort: str = "",
    ranked: RankedMatches | None = None,
) -> list[QueueRow]:
    """``size`` rows of the queue ``rows`` from ``offset``, with their risk flags, in one
    query; for a search for words, ``size`` of the ``ranked`` matches (``ranked_matches``).

    The page's ids are found first, in a subquery that reads only the index (the open
    complaints' deadline order with the team in it), and only those rows are read and
    joined to their customer, team and assignee. Joining before the offset, as a plain
    ``rows[offset:offset + size]`` does, would read and join every row before the page:
    5,000 of them for the hundredth page. The flags are two ``EXISTS`` probes per row of
    the page, on the clock table's complaint index.
    """
    if ranked is None:
        page_ids = Q(pk__in=rows.values("pk")[offset : offset + size])
    else:
        # An array parameter, not ``pk__in=[…]``: an empty page still sends its query, so
        # that every page sends as many (Django answers an empty IN list without asking).
        from django.contrib.postgres.fields import ArrayField

        ids = Value(ranked.ids[offset : offset + size], output_field=ArrayField(BigIntegerField()))
        page_ids = Q(_EqualsAny(F("pk"), ids))
    values = (
        Complaint.objects.filter(page_ids)
        .annotate(**_risk_flags(now))
        .order_by(*queue_order(text, sort))
        .values_list(*QUEUE_COLUMNS)
    )
    page = []
    for (
        pk,
        reference,
        subject,
        state,
        awaiting_customer,
        escalation_level,
        next_deadline_at,
        next_statutory_deadline_at,
        urgency,
        overdue_since,
        overdue_kind,
        regulatory_profile,
        jurisdiction,
        received_at,
        customer_name,
        team_id,
        team_name,
        username,
        first_name,
        last_name,
        breached,
        at_risk,
    ) in values:
        row = QueueRow(
            pk=pk,
            reference=reference,
            subject=subject,
            state=state,
            awaiting_customer=awaiting_customer,
            escalation_level=escalation_level,
            next_deadline_at=next_deadline_at,
            next_statutory_deadline_at=next_statutory_deadline_at,
            urgency=urgency,
            overdue_since=overdue_since,
            overdue_kind=overdue_kind,
            regulatory_profile=regulatory_profile,
            jurisdiction=jurisdiction,
            received_at=received_at,
            customer_name=customer_name,
            team_id=team_id,
            team_name=team_name,
            assignee_name=_person_name(username, first_name, last_name)
            if username is not None
            else "",
            assignee_username=username or "",
            breached=breached,
            at_risk=at_risk,
        )
        _set_status(row, now)
        page.append(row)
    return page


def queue_count(rows: QuerySet[Complaint], cap: int, sort: str = "") -> int:
    """How many complaints the queue ``rows`` holds, counting no further than ``cap`` + 1.

    Counted in the queue's indexed order (urgency, or the time received), so that PostgreSQL
    reads the first ``cap`` + 1 entries of the index that order has, from the index alone,
    rather than choosing a scan of the table that may pass 30,000 rows before it has them.
    """
    order = QUEUE_RECEIVED_ORDERS.get(sort, QUEUE_ORDER)
    return rows.order_by(*order).values("pk")[: cap + 1].count()


def _risk_flags(now: datetime) -> dict:
    """``breached`` and ``at_risk`` of each row, as annotations: two ``EXISTS`` probes per
    row on the clock table's complaint index."""
    return {
        "breached": Exists(_breached_clocks().filter(complaint=OuterRef("pk"))),
        "at_risk": Exists(_warned_clocks(now).filter(complaint=OuterRef("pk"))),
    }


def _breached_clocks() -> QuerySet[Clock]:
    return Clock.objects.filter(state=ClockState.BREACHED, stopped_at__isnull=True)


def _warned_clocks(now: datetime) -> QuerySet[Clock]:
    """Running clocks past their warning time (and perhaps past due: the row is breached)."""
    return Clock.objects.filter(state=ClockState.RUNNING, warn_at__lte=now)


def _breached_ids():
    # Read through clock_next_escalation_idx, the partial index of breached, unanswered clocks.
    return _breached_clocks().values("complaint_id")


def _at_risk(now: datetime) -> Q:
    # Two range scans, one per partial index: clocks already warned (clock_running_warned_idx)
    # and those past their warning the sweeper has not reached yet (clock_running_warn_idx).
    # One condition over both would read every running clock.
    running = Clock.objects.filter(state=ClockState.RUNNING, warn_at__lte=now, due_at__gt=now)
    warned = running.filter(warned_at__isnull=False).values("complaint_id")
    not_yet = running.filter(warned_at__isnull=True).values("complaint_id")
    return Q(pk__in=warned) | Q(pk__in=not_yet)


def _set_status(row: Complaint | QueueRow, now: datetime) -> None:
    """``row.status``, the worst deadline state of a row with ``breached`` and ``at_risk``."""
    if (
        row.breached
        or row.urgency in (Urgency.STATUTORY_BREACHED, Urgency.BREACHED)
        or (row.next_deadline_at is not None and row.next_deadline_at <= now)
    ):
        row.status = "breached"
    elif row.at_risk:
        row.status = "at_risk"
    else:
        row.status = "on_track" if row.next_deadline_at is not None else "none"


# Text that is a telephone number: digits with the usual separators, at least 6 digits.
PHONE_PATTERN = re.compile(r"^\+?[\d\s().-]{6,}$")


def search_filter(text: str, causes=()) -> Q:
    """What the queue's search box finds.

    - a reference (``RDR-2026-000123``): that complaint, whatever its state, and the
      references that start with it (``RDR-2026-00004``) or have its number;
    - a number of 1 to 8 digits: also the references that end with it, leading zeros or not;
    - text with ``@``: the complaints of customers whose email holds it;
    - a telephone number (or any number of 6 digits or more): those of customers whose
      number holds its digits, whatever the spaces, dashes or brackets on either side, and
      those whose subject, description or messages hold the same number (an order, a
      parcel, a number the customer wrote in a message), written with any separators;
    - other text: references that start with it, customers whose name holds its words (in
      any order), and words
      of the subject, the description and the messages (PostgreSQL full-text search, words
      matched by their stem, ranked by ``queue_order``; on SQLite the text anywhere in them,
      whatever the case), and complaints resolved with a root cause whose name holds the
      words, or with a cause under it (``causes``: every root cause, as
      ``queue_filter_choices`` reads them; matched in memory).

    On PostgreSQL each condition has its index (``recovery.0009_queue_indexes``: trigram
    indexes on the customer's email, a pattern index on the reference; ``recovery.0040``:
    a trigram index on the customer's name without its case and accents; ``recovery.0039``:
    the references' numbers;
    ``recovery.0031_queue_full_text_search``: GIN indexes on the complaint's words and the
    messages', a trigram index on the digits of the customer's telephone), so PostgreSQL combines them
    into one bitmap of complaint rows.
    """
    if REFERENCE_PATTERN.match(text):
        return _references_matching(text)
    if "@" in text:
        return _customers_matching(Q(email__icontains=text))
    if _is_number(text):
        holds = Q()
        for digits in _number_forms(text):
            holds |= Q(phone_digits__contains=digits)
        phones = _customers_matching(holds, phone_digits=_Digits("phone"))
        return phones | _text_matching(text, number=True) | _reference_number(text)
    groups = search_terms.parse(text)
    condition = Q(reference__istartswith=text) | _reference_number(text)
    names = _names_matching(groups)
    if names is not None:
        condition |= _customers_matching(names)
    named = _causes_named(groups, causes)
    if named:
        condition |= _complaints_with_causes(named)
    return condition | _text_matching(text, groups=groups)


def _names_matching(groups: list[list[search_terms.Term]]) -> Q | None:
    """The customers whose name holds every word of one of the search's alternatives, in any
    order ("Customer Jordan" finds Jordan Customer), and none it leaves out; None when no
    alternative names a word to look for."""
    alternatives = None
    for group in groups:
        words = [word for term in group if not term.excluded for word in term.words]
        if not words:
            continue
        condition = Q()
        for word in words:
            condition &= Q(_Holds("name", word))
        for term in group:
            if term.excluded:
                condition &= ~Q(_Holds("name", term.text))
        alternatives = condition if alternatives is None else alternatives | condition
    return alternatives


def _references_matching(text: str) -> Q:
    """A reference, or the start of one: the references that start with ``text``
    (``RDR-2026-00004`` finds RDR-2026-000040 to RDR-2026-000049), and the one with the same
    number, however many leading zeros were said or left out (RDR-2026-000004)."""
    prefix, year, number = text.upper().rsplit("-", 2)
    return Q(reference__startswith=text.upper()) | Q(reference=f"{prefix}-{year}-{int(number):06d}")


class _ReferenceNumber(Func):
    """The trailing number of a reference without its leading zeros: RDR-2026-000057 → "57".
    On PostgreSQL as its index (``complaint_reference_number_idx``) is built, so the planner
    matches it."""

    template = "ltrim(substring(%(expressions)s from '[0-9]+$'), '0')"
    output_field = CharField()


def _reference_number(text: str) -> Q:
    """Complaints whose reference ends with the number ``text`` (digits only), with or
    without its leading zeros: ``57`` and ``000057`` find RDR-2026-000057 (and RDR-2025-000057).
    On SQLite (no index, small data) the number as references write it."""
    if not REFERENCE_NUMBER_PATTERN.match(text) or int(text) == 0:
        return Q()
    number = int(text)
    if connection.vendor != "postgresql":
        return Q(reference__endswith=f"-{number:06d}") | Q(reference__endswith=f"-{number}")
    return Q(Exact(_ReferenceNumber("reference"), Value(str(number))))


def _text_matching(text: str, number: bool = False, groups=None) -> Q:
    """Complaints whose subject, description or messages hold ``text``: on PostgreSQL its
    words (as a search box reads them, or the number's digits, whatever their separators) in
    the ``tsvector`` columns; on SQLite the same search syntax (``groups``, as
    ``search_terms.parse`` reads ``text``), each word or phrase anywhere in them."""
    if connection.vendor != "postgresql":
        if number:
            # The digits of each field, whatever its separators ("020-7946-0999").
            found = Q()
            for digits in _number_forms(text):
                messages = (
                    Message.objects.annotate(digits=_Digits("body"))
                    .filter(digits__contains=digits)
                    .values("complaint_id")
                )
                found |= Q(subject_digits__contains=digits) | Q(pk__in=messages)
                found |= Q(description_digits__contains=digits)
            return Q(
                pk__in=Complaint.objects.annotate(
                    subject_digits=_Digits("subject"), description_digits=_Digits("description")
                )
                .filter(found)
                .values("pk")
            )
        # As PostgreSQL matches the words: in the subject and description together, or in
        # the messages together (a word left out of one may be in the other).
        alternatives = Q(pk__in=[])  # no term at all finds nothing, as on PostgreSQL
        for group in groups if groups is not None else search_terms.parse(text):
            own = Q()
            messages = Q(pk__in=Message.objects.values("complaint_id"))
            for term in group:
                in_own = Q(_Holds("subject", term.text)) | Q(_Holds("description", term.text))
                in_messages = Q(pk__in=_messages_holding(term.text))
                own &= ~in_own if term.excluded else in_own
                messages &= ~in_messages if term.excluded else in_messages
            alternatives |= own | messages
        return alternatives
    from django.contrib.postgres.search import SearchVectorExact

    query = _number_query(text) if number else _search_query(text)
    return Q(SearchVectorExact(SearchDocument(), query)) | Q(
        SearchVectorExact(SearchDocument(name="message_document"), query)
    )


def _messages_holding(text: str) -> QuerySet:
    """SQLite: the ids of the complaints with a message that holds ``text``."""
    return Message.objects.filter(_Holds("body", text)).values("complaint_id")


class _Holds(Expression):
    """The text ``column`` holds ``text`` anywhere, whatever the case and accents ("zoe" in
    "Zoë", "ZOË" in "zoë"). On PostgreSQL both sides through ``redress_unaccent(UPPER(…))``
    (migration ``recovery.0040``; the customer's name has a trigram index on it); on SQLite
    through ``redress_fold`` (``common.text.fold``, registered by the recovery app)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column, text: str):
        super().__init__()
        self.column = F(column) if isinstance(column, str) else column
        self.text = text

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, expressions):
        (self.column,) = expressions

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.column)
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        if connection.vendor == "postgresql":
            return (
                f"redress_unaccent(UPPER(({sql})::text)) LIKE redress_unaccent(UPPER(%s))",
                (*params, pattern),
            )
        return f"redress_fold({sql}) LIKE redress_fold(%s) ESCAPE '\\'", (*params, pattern)


def search_rank(text: str):
    """How well a complaint's subject and description match the words searched, or None
    where the queue is not ranked (no words, a reference, an email, a number, SQLite)."""
    text = text.strip()
    if (
        not text
        or connection.vendor != "postgresql"
        or REFERENCE_PATTERN.match(text)
        or "@" in text
        or _is_number(text)
    ):
        return None
    from django.contrib.postgres.search import SearchRank

    return SearchRank(SearchDocument(), _search_query(text))


def _is_number(text: str) -> bool:
    """Whether ``text`` is a telephone number or another long number: 6 digits or more."""
    return bool(PHONE_PATTERN.match(text)) and len(re.sub(r"\D", "", text)) >= 6


# The country whose national trunk prefix 0 a telephone number may be written with:
# "07700 900203" is "+44 7700 900203" (and "0044 7700 900203").
PHONE_COUNTRY_CODE = "44"


def _number_forms(text: str) -> list[str]:
    """The digits of the number ``text`` as it may be written: for a UK number, both its
    national form ("07700900203") and its international one ("447700900203")."""
    digits = re.sub(r"\D", "", text)
    code = PHONE_COUNTRY_CODE
    if text.lstrip().startswith("+" + code) or digits.startswith("00" + code):
        national = digits[digits.index(code) + len(code) :]
        national = national[1:] if national.startswith("0") else national  # "+44 (0)20…"
        return [code + national, "0" + national]
    if digits.startswith("0") and not digits.startswith("00") and len(digits) > 6:
        return [digits, code + digits[1:]]
    return [digits]


def _number_groups(text: str) -> list[list[str]]:
    """The groups of digits of ``text``, and of its other form (``_number_forms``)."""
    groups = re.findall(r"\d+", text)
    digits = "".join(groups)
    forms = _number_forms(text)
    if len(forms) == 1:
        return [groups]
    code = PHONE_COUNTRY_CODE
    if digits.startswith("0") and not digits.startswith("00"):  # "07700 900203"
        return [
            groups,
            [code, groups[0][1:], *groups[1:]] if len(groups[0]) > 1 else [code, *groups[1:]],
        ]
    # "+44 7700 900203", "0044 7700 900203", "+44 (0)7700 900203"
    rest = [groups[0].removeprefix("00").removeprefix(code), *groups[1:]]
    rest = [group for group in rest if group]
    if rest:
        rest[0] = rest[0].removeprefix("0")  # the trunk 0 some write after +44: "(0)20"
    rest = [group for group in rest if group]
    if not rest:
        return [groups]
    return [groups, ["0" + rest[0], *rest[1:]]]


def _number_query(text: str):
    """The words of the number ``text`` as PostgreSQL's parser makes them of a document,
    whatever separators either side wrote: it splits "020 7946 0999" into '020', '7946' and
    '0999', but "020-7946-0999" into '020', '-7946' and '-0999' (signed numbers), and keeps
    "+44" as '+44'. So each group of digits is matched with or without its sign, all groups
    together, or all the digits written as one number ("02079460999")."""
    from django.contrib.postgres.search import SearchQuery

    alternatives = []
    for groups in _number_groups(text):
        groups = [group for group in groups if group]
        each = " & ".join(f"('{group}' | '-{group}' | '+{group}')" for group in groups)
        alternatives.append(f"({each})")
    alternatives += [f"('{w}' | '+{w}' | '-{w}')" for w in _number_forms(text)]
    # Only digits, quotes and operators: the raw syntax cannot fail on what a user typed.
    return SearchQuery(" | ".join(alternatives), config=SEARCH_CONFIG, search_type="raw")


def _search_query(text: str):
    from django.contrib.postgres.search import SearchQuery

    # websearch: what people type into search boxes ("refund -card", "\"never arrived\"",
    # "refund or credit"), never a syntax error.
    return SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")


class SearchDocument(Expression):
    """The ``search_document`` column of the complaint or of the message (PostgreSQL only: a
    stored, generated ``tsvector`` of the complaint's subject, weighted A, and description,
    weighted B, or of the message's body; migration ``recovery.0031_queue_full_text_search``),
    or with ``name="message_document"`` the complaint's copy of all its messages' words (kept
    by a trigger on the messages; migration ``recovery.0033``).
    The models do not declare it, since SQLite cannot compute it: this names it on whatever
    alias the table has in the query (a page's ids are found in a subquery, where Django
    renames the table)."""

    def __init__(self, column=None, name="search_document"):
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())
        self.column = column if column is not None else F("pk")
        self.name = name

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, expressions):
        (self.column,) = expressions

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.column)
        table, _dot, _column = sql.rpartition(".")
        return f'{table}."{self.name}"', params


class _Digits(Func):
    """The digits of a text: "+44 (20) 7946-0000" → "442079460000". On PostgreSQL as its
    trigram index (``customer_phone_digits_trgm_idx``) is built, literals and all, so the
    planner matches the index; elsewhere the usual separators replaced one by one."""

    template = "regexp_replace(%(expressions)s, '[^0-9]', '', 'g')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        for separator in (" ", "(", ")", "-", ".", "+", "/"):
            sql = f"REPLACE({sql}, '{separator}', '')"
        return sql, params


def _customers_matching(condition: Q, **annotations) -> Q:
    """Complaints of the customers that meet ``condition``.

    On PostgreSQL ``customer_id = ANY(ARRAY(SELECT id FROM recovery_customer WHERE …))``:
    the customers are found once, on their own index, and their complaints through the
    complaint table's customer index, so that this joins the other conditions of a search
    in one bitmap of indexes. A join to the customer, or ``IN (SELECT …)``, inside an OR is
    instead a filter on every row of the queue. Elsewhere (SQLite) a plain ``IN``.
    """
    customers = Customer.objects.annotate(**annotations).filter(condition).order_by().values("pk")
    if connection.vendor != "postgresql":
        return Q(customer__in=customers)
    from django.contrib.postgres.expressions import ArraySubquery

    return Q(_EqualsAny(F("customer_id"), ArraySubquery(customers)))


class _EqualsAny(Lookup):
    """``lhs = ANY(rhs)``, ``rhs`` an array (PostgreSQL); used as an expression only."""

    lookup_name = "equals_any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


# -- the complaint page ------------------------------------------------------------------


@dataclass(frozen=True)
class ClockView:
    kind: str
    label: str
    state: str
    state_label: str
    due_at: datetime | None
    warn_at: datetime | None
    stopped_at: datetime | None
    business_seconds_left: float | None  # in the clock's basis: business or elapsed time
    status: str  # breached, at_risk, on_track, paused, met, cancelled
    statutory: bool = False
    obligation: str = ""  # "Internal target" or "Statutory · DISP 1.6.2R (UK FCA DISP)"
    due_label: str = ""  # a statutory day-count deadline is a local date; others date + time
    basis: str = "business"


def clock_views(clocks, now: datetime | None = None) -> list[ClockView]:
    """Every clock of a complaint with its time left (business time for business clocks)."""
    now = now or timezone.now()
    views = []
    for clock in clocks:
        left = None
        if clock.state == ClockState.PAUSED:
            left = clock.seconds_left_when_paused
        elif clock.state == ClockState.RUNNING and clock.due_at is not None:
            calendar = clock_calendar(clock, now, clock.due_at)
            left = deadlines.between(now, clock.due_at, basis=clock.basis, calendar=calendar)
        views.append(
            ClockView(
                kind=clock.kind,
                label=ClockKind(clock.kind).label if clock.kind in ClockKind.values else clock.kind,
                state=clock.state,
                state_label=clock.get_state_display(),
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                stopped_at=clock.stopped_at,
                business_seconds_left=left,
                status=_clock_status(clock, now),
                statutory=clock.statutory,
                obligation=obligation_label(clock),
                due_label=due_label(clock),
                basis=clock.basis,
            )
        )
    # Internal targets first, each followed by the statutory deadline of the same kind.
    return sorted(views, key=lambda view: (view.due_at is None, view.statutory))


def obligation_label(clock) -> str:
    if not clock.statutory:
        return str(_("Internal target"))
    name = regulatory.profile_name(clock.regulatory_profile)
    return (
        f"{_('Statutory')} · {clock.rule} ({name})" if clock.rule else f"{_('Statutory')} ({name})"
    )


def due_label(clock) -> str:
    """The deadline as a person reads it: a statutory deadline counted in days ends with a
    local date in its region ("end of Fri 15 May 2026"), other statutory deadlines in the
    region's time, internal targets in this installation's; each with its zone."""
    if clock.due_at is None:
        return ""
    if clock.regulatory_profile:
        return statutory_due_label(clock.due_at, clock.regulatory_profile, clock.jurisdiction)
    return formatted(timezone.localtime(clock.due_at), "deadline")


def statutory_due_label(due_at: datetime, profile_code: str, jurisdiction: str, *, short=False):
    zone = regulatory.region_zone(profile_code, jurisdiction) or timezone.get_current_timezone()
    local = due_at.astimezone(zone)
    if short:
        return formatted(local, "day")
    if local.time() == regulatory.END_OF_DAY:
        return _("end of %(date)s") % {"date": formatted(local, "deadline_day")}
    return formatted(local, "deadline")


def _clock_status(clock, now: datetime) -> str:
    if clock.state == ClockState.BREACHED or (
        clock.state == ClockState.RUNNING and clock.due_at is not None and clock.due_at <= now
    ):
        return "breached"
    if clock.state == ClockState.RUNNING:
        if clock.warn_at is not None and clock.warn_at <= now:
            return "at_risk"
        return "on_track"
    return clock.state


def timeline(complaint: Complaint) -> list:
    """The complaint's events, each assignment carrying its assignee (``assignee``) so the
    page says to whom: none when the events were read with them
    (``recovery.selectors.complaint_detail``), else one query for all of them."""
    events = list(complaint.events.all())
    assigned = [event for event in events if event.type == "assigned"]
    user_model = get_user_model()
    if all(hasattr(event, ASSIGNEE_ROW) for event in assigned):  # read with the events
        for event in assigned:
            row = getattr(event, ASSIGNEE_ROW)
            event.assignee = instance(user_model, row) if row else None
        return events
    ids = {(event.parameters or {}).get("assignee_id") for event in assigned} - {None}
    users = user_model.objects.in_bulk(ids) if ids else {}
    for event in assigned:
        event.assignee = users.get((event.parameters or {}).get("assignee_id"))
    return events


def suggested_root_cause(events: list) -> str:
    """The code of the root cause the last macro used since the complaint was last resolved
    suggested (``root_cause_suggested``), else blank. Read from the timeline already on the
    page, so it costs no statement of its own."""
    code = ""
    for event in events:
        if event.type == "resolved":
            code = ""
        elif event.type == "root_cause_suggested":
            code = str((event.parameters or {}).get("root_cause") or "")
    return code


@dataclass(frozen=True)
class Merges:
    """What a complaint's timeline says of merges: the complaint it was merged into (its
    reference, or blank), and the references of the duplicates merged into it by id (the
    ``merged_from`` of the messages copied from them)."""

    merged_into: str
    merged_from: dict


def merges(events: list) -> Merges:
    """Read from the timeline already on the page, so it costs no statement of its own."""
    merged_into = ""
    merged_from = {}
    for event in events:
        parameters = event.parameters if isinstance(event.parameters, dict) else {}
        if event.type == "withdrawn" and parameters.get("duplicate_of"):
            merged_into = str(parameters["duplicate_of"])
        elif event.type == "duplicate_merged" and parameters.get("duplicate_id"):
            merged_from[parameters["duplicate_id"]] = str(parameters.get("duplicate", ""))
    return Merges(merged_into, merged_from)


def unnotified_mentions(events: list) -> dict:
    """Whom each internal note named but could not tell (``recovery.mentions``), by message
    id, from the note's timeline event already on the page."""
    found = {}
    for event in events:
        parameters = event.parameters if isinstance(event.parameters, dict) else {}
        if event.type == "note_added" and parameters.get("not_notified"):
            found[parameters.get("message_id")] = parameters["not_notified"]
    return found


# The customer's history on the complaint page: their latest complaints, recoveries and
# survey answers, this many of each (a long-standing customer's whole record is the CRM's).
HISTORY_LIMIT = 20
# The attributes of a complaint read with ``page_annotations``.
LATEST_EVENT_ID = "page_latest_event_id"
HISTORY_ROWS = "page_history_rows"
HISTORY_RECOVERY_ROWS = "page_history_recovery_rows"
HISTORY_SURVEY_ROWS = "page_history_survey_rows"
UNREAD_COUNT = "page_unread_count"
REVIEW_COUNT = "page_review_count"
STAFF_ROWS = "page_staff_rows"
RECENT_RESOLUTION_ROWS = "page_recent_resolution_rows"
APPROVALS_COUNT = "page_approvals_count"
MACRO_ROWS = "page_macro_rows"
CATEGORY_ROWS = "page_category_rows"
# What the macro panel needs of each macro offered (its text is read when one is chosen).
MACRO_COLUMNS = (
    "id",
    "name",
    "visibility",
    "team_id",
    "owner_id",
    "category_id",
    "root_cause_id",
    "archived_at",
)


def page_reads_in_one_row() -> bool:
    """Whether ``page_annotations`` brings the page's reads along (PostgreSQL)."""
    return connection.vendor == "postgresql"


def page_annotations(user) -> dict:
    """What the complaint page shows beside the complaint, brought along in its row's query
    on PostgreSQL (``recovery.selectors.complaint_detail``), so that the page costs the same
    statements whatever the complaint and its customer hold: the newest event id (read in
    the row's statement, before the timeline's), the customer's history, the emails held on
    it, who else is on it, the whole texts of its emails, the header's two counts and, for
    whoever may reassign it, the staff to choose from. Empty elsewhere (SQLite)."""
    if not page_reads_in_one_row():
        return {}
    visible = access.complaints_visible_to(user)
    history = (
        visible.filter(customer_id=OuterRef("customer_id"))
        .exclude(pk=OuterRef("pk"))
        .order_by("-received_at", "-id")[:HISTORY_LIMIT]
    )
    recoveries = (
        RecoveryAction.objects.filter(
            complaint__customer_id=OuterRef("customer_id"), complaint__in=visible
        )
        .exclude(complaint=OuterRef("pk"))
        .order_by("-proposed_at", "-id")[:HISTORY_LIMIT]
    )
    surveys = Survey.objects.filter(
        complaint__customer_id=OuterRef("customer_id"),
        complaint__in=visible,
        submitted_at__isnull=False,
    ).order_by("-submitted_at", "-id")[:HISTORY_LIMIT]
    annotations = {
        LATEST_EVENT_ID: Subquery(Outbox.objects.order_by("-id").values("id")[:1]),
        HISTORY_ROWS: json_rows(
            history, **{name: name for name in _HISTORY_COLUMNS}, team_name="team__name"
        ),
        HISTORY_RECOVERY_ROWS: json_rows(
            recoveries,
            **{name: name for name in _RECOVERY_COLUMNS},
            # As text: a JSON number would come back as a float (25.0 for 25.00).
            amount=Cast("amount", CharField()),
            reference="complaint__reference",
            complaint_state="complaint__state",
        ),
        HISTORY_SURVEY_ROWS: json_rows(
            surveys,
            **{name: name for name in _SURVEY_COLUMNS},
            reference="complaint__reference",
            complaint_state="complaint__state",
        ),
        UNREAD_COUNT: inbox.unread_count_query(user),
        REVIEW_COUNT: notifications_selectors.review_count_query(user),
        **notifications_selectors.held_emails_annotation(),
        **notifications_selectors.full_texts_annotation(),
        **presence.presence_annotation(),
        **attachment_selectors.attachments_annotation(),
    }
    approvals = approvals_waiting_subquery(user)
    if approvals is not None:
        annotations[APPROVALS_COUNT] = approvals
    if user.has_perm("recovery.resolve_complaint"):
        # OuterRef: a complaint without a team matches no team's resolutions, as None does.
        recent = _recent_resolutions(user.pk, OuterRef("team_id"))
        annotations[RECENT_RESOLUTION_ROWS] = json_rows(
            recent, actor_id="actor_id", parameters="parameters"
        )
    if user.has_perm("recovery.assign_complaint"):
        names = ("id", "username", "first_name", "last_name")
        annotations[STAFF_ROWS] = json_rows(_staff_choices(), **{name: name for name in names})
    annotations[MACRO_ROWS] = json_rows(
        _macros_offered(user), **{name: name for name in MACRO_COLUMNS}
    )
    if user.has_perm("recovery.change_complaint"):
        # The categories offered by the page's category form (desk.category_page).
        annotations[CATEGORY_ROWS] = json_rows(
            Category.objects.filter(is_active=True).order_by("name", "id"), id="id", name="name"
        )
    return annotations


def _macros_offered(user) -> QuerySet[Macro]:
    """The macros in use that ``user`` may use on the outer complaint, by name: everyone's,
    its team's and the user's own (``recovery.services.macros.may_use``)."""
    return (
        Macro.objects.filter(archived_at__isnull=True)
        .filter(
            Q(visibility=MacroVisibility.EVERYONE)
            | Q(visibility=MacroVisibility.TEAM, team_id=OuterRef("team_id"))
            | Q(visibility=MacroVisibility.PERSONAL, owner_id=user.pk)
        )
        .order_by("name", "id")
    )


def macros_brought(complaint: Complaint) -> list[Macro] | None:
    """The macros ``page_annotations`` brought with the complaint (deferred instances: only
    ``MACRO_COLUMNS``), or None if it did not."""
    rows = getattr(complaint, MACRO_ROWS, None)
    if rows is None:
        return None
    return [instance(Macro, row) for row in rows]


_HISTORY_COLUMNS = ("id", "reference", "subject", "state", "outcome", "received_at", "team_id")
_RECOVERY_COLUMNS = ("id", "complaint_id", "type", "currency", "description", "status")
_RECOVERY_COLUMNS += ("proposed_at",)
_SURVEY_COLUMNS = ("id", "complaint_id", "sent_at", "submitted_at", "csat", "ces", "nps")
_SURVEY_COLUMNS += ("comment",)


def _staff_choices():
    """The staff a complaint may be assigned to, by username (``roles.staff_members``)."""
    user_model = get_user_model()
    staff_group = Group.objects.filter(user=OuterRef("pk"), name__in=roles.STAFF_ROLES)
    return user_model.objects.filter(
        Q(is_superuser=True) | Exists(staff_group), is_active=True
    ).order_by("username")


def category_choices(complaint: Complaint) -> list[tuple[int, str]] | None:
    """The categories in use ``page_annotations`` brought with ``complaint``, as ``(id,
    name)``; None if it brought none."""
    rows = getattr(complaint, CATEGORY_ROWS, None)
    if rows is None:
        return None
    return [(row["id"], row["name"]) for row in rows]


def staff_choices(complaint: Complaint) -> list | None:
    """The staff ``page_annotations`` brought with ``complaint`` (id, username, names), as
    users; None if it brought none."""
    rows = getattr(complaint, STAFF_ROWS, None)
    if rows is None:
        return None
    return [instance(get_user_model(), row) for row in rows]


def customer_history(complaint: Complaint, user, limit: int = HISTORY_LIMIT) -> list[Complaint]:
    """The customer's other complaints that ``user`` may see, newest first, with what
    became of them (another team's complaint stays behind the access policy)."""
    rows = getattr(complaint, HISTORY_ROWS, None)
    if rows is not None:
        return [_history_complaint(row) for row in rows]
    return list(
        access.complaints_visible_to(user)
        .filter(customer_id=complaint.customer_id)
        .exclude(pk=complaint.pk)
        .select_related("team")
        .defer(*QUEUE_DEFERRED)
        .order_by("-received_at", "-id")[:limit]
    )


def _history_complaint(row: dict) -> Complaint:
    past = instance(Complaint, row)
    past.team = (
        instance(Team, {"id": row["team_id"], "name": row["team_name"]}) if row["team_id"] else None
    )
    return past


def customer_recoveries(complaint: Complaint, user, limit: int = HISTORY_LIMIT) -> list:
    """What the customer was given on their other complaints, so nobody offers it twice
    (on the complaints ``user`` may see)."""
    rows = getattr(complaint, HISTORY_RECOVERY_ROWS, None)
    if rows is not None:
        return [_with_reference(RecoveryAction, row) for row in rows]
    return list(
        RecoveryAction.objects.filter(
            complaint__customer_id=complaint.customer_id,
            complaint__in=access.complaints_visible_to(user),
        )
        .exclude(complaint=complaint)
        .select_related("complaint")
        .order_by("-proposed_at", "-id")[:limit]
    )


def customer_surveys(complaint: Complaint, user, limit: int = HISTORY_LIMIT) -> list[Survey]:
    """The customer's answers to earlier surveys (of complaints ``user`` may see)."""
    rows = getattr(complaint, HISTORY_SURVEY_ROWS, None)
    if rows is not None:
        return [_with_reference(Survey, row) for row in rows]
    return list(
        Survey.objects.filter(
            complaint__customer_id=complaint.customer_id,
            complaint__in=access.complaints_visible_to(user),
            submitted_at__isnull=False,
        )
        .select_related("complaint")
        .order_by("-submitted_at", "-id")[:limit]
    )


def _with_reference(model, row: dict):
    """A recovery action or survey from its JSON row, with its complaint's reference (and
    state, which django-fsm reads when it makes the instance)."""
    item = instance(model, row)
    item.complaint = instance(
        Complaint,
        {"id": row["complaint_id"], "reference": row["reference"], "state": row["complaint_state"]},
    )
    return item


# -- the tracking page --------------------------------------------------------------------


@dataclass(frozen=True)
class TrackedMessage:
    """One entry of the customer's conversation: a message to or from them, or a decision
    they were sent (a resolution is emailed from the complaint's fields, not a message)."""

    direction: str
    kind: str
    kind_label: str
    created_at: datetime
    body: str
    # Who wrote an inbound message when it was not the customer (an accepted contact).
    written_by: str = ""

    @classmethod
    def of_message(cls, message: Message) -> "TrackedMessage":
        return cls(
            message.direction,
            message.kind,
            message.get_kind_display(),
            message.created_at,
            message.body,
            message.written_by,
        )

    @classmethod
    def of_resolution(cls, event: ComplaintEvent) -> "TrackedMessage":
        """The decision as the resolution email said it: the outcome and the summary.

        From the ``resolved`` event, so each resolution stays as it was sent after a reopening;
        its root causes are the company's analysis, not the customer's, and are left out.
        """
        outcome = event.parameters.get("outcome", "")
        label = Outcome(outcome).label if outcome in Outcome.values else outcome
        summary = event.parameters.get("summary", "")
        body = _("Our decision: %(outcome)s.") % {"outcome": label}
        return cls(
            MessageDirection.OUTBOUND,
            MessageKind.RESOLUTION,
            MessageKind.RESOLUTION.label,
            event.created_at,
            f"{body}\n\n{summary}" if summary else body,
        )


@dataclass
class Tracking:
    complaint: Complaint
    messages: list[TrackedMessage]
    timeline: list[ComplaintEvent]
    expected: dict[str, datetime]


def tracking(complaint_id: int) -> Tracking | None:
    """What the customer sees of their complaint: no internal notes, no staff-only events."""
    complaint = (
        Complaint.objects.select_related("customer", "touchpoint").filter(pk=complaint_id).first()
    )
    if complaint is None:
        return None
    timeline = list(
        ComplaintEvent.objects.filter(complaint=complaint)
        .exclude(type__in=STAFF_ONLY_EVENT_TYPES)
        .order_by("created_at", "id")
    )
    # Everything the customer was sent or wrote, in order: the messages (acknowledgement,
    # replies, letters, loop-closing) and each resolution. Never an internal note.
    messages = [
        TrackedMessage.of_message(message)
        for message in Message.objects.filter(complaint=complaint)
        .exclude(direction=MessageDirection.INTERNAL)
        .order_by("created_at", "id")
    ]
    messages += [
        TrackedMessage.of_resolution(event)
        for event in timeline
        if event.type == EventType.RESOLVED
    ]
    messages.sort(key=lambda entry: entry.created_at)  # stable: ties keep their order
    # An internal target and a statutory deadline may time the same step: the customer is
    # told the earlier, later ones ordered first so the earliest wins the dict.
    expected = {
        clock.kind: clock.due_at
        for clock in Clock.objects.filter(
            complaint=complaint,
            kind__in=[ClockKind.ACKNOWLEDGE, ClockKind.RESOLVE],
            state__in=[ClockState.RUNNING, ClockState.PAUSED],
            due_at__isnull=False,
        ).order_by("-due_at")
    }
    return Tracking(complaint, messages, timeline, expected)


# -- the supervisor's board ---------------------------------------------------------------


def board(user, now: datetime | None = None, team_id: int | None = None) -> dict:
    """Open complaints ``user`` may see that are breached or at risk, most escalated
    first, by team."""
    now = now or timezone.now()
    rows = (
        access.complaints_visible_to(user)
        .filter(state__in=OPEN_STATES)
        .filter(Q(pk__in=_breached_ids()) | _at_risk(now) | Q(next_deadline_at__lte=now))
        .select_related("customer", "team", "assignee")
        .defer(*QUEUE_DEFERRED)
        .annotate(**_risk_flags(now))
    )
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    rows = list(
        rows.order_by("-escalation_level", F("next_deadline_at").asc(nulls_last=True), "id")[
            : BOARD_LIMIT * 2
        ]
    )
    for row in rows:
        _set_status(row, now)
    breached = [row for row in rows if row.status == "breached"]
    at_risk = [row for row in rows if row.status != "breached"]
    return {
        "breached": _by_level(breached[:BOARD_LIMIT]),
        "at_risk": _by_level(at_risk[:BOARD_LIMIT]),
        "breached_count": len(breached),
        "at_risk_count": len(at_risk),
    }


def _by_level(rows: list[Complaint]) -> list[dict]:
    """``[{level, teams: [{team, complaints}]}]`` in the order the rows came."""
    levels: dict[int, dict[str, list]] = {}
    for row in rows:
        team = row.team.name if row.team_id else ""
        levels.setdefault(row.escalation_level, {}).setdefault(team, []).append(row)
    return [
        {
            "level": level,
            "teams": [{"team": team, "complaints": items} for team, items in teams.items()],
        }
        for level, teams in levels.items()
    ]


@dataclass
class TeamFigures:
    team: str
    open: int = 0
    at_risk: int = 0
    breached: int = 0
    acknowledged_today: int = 0
    acknowledged_on_time: int = 0

    @property
    def on_time_percent(self) -> int | None:
        if not self.acknowledged_today:
            return None
        return round(100 * self.acknowledged_on_time / self.acknowledged_today)


def team_figures(user, now: datetime | None = None) -> list[TeamFigures]:
    """Today's figures per team over the complaints ``user`` may see, in four aggregate
    queries: every team's for a manager, a supervisor's own teams (and the intake queue, and
    what is assigned or escalated to them) for a supervisor, as on the board's lists."""
    now = now or timezone.now()
    visible = access.complaints_visible_to(user)
    clocks = Clock.objects.all()
    if not rules.sees_every_complaint(user):
        clocks = clocks.filter(complaint__in=visible.values("pk"))
    start_of_day = datetime.combine(
        timezone.localdate(now), time(0), timezone.get_current_timezone()
    )
    names = dict(Team.objects.values_list("pk", "name"))
    figures: dict[int | None, TeamFigures] = {}

    def row(team_id) -> TeamFigures:
        if team_id not in figures:
            figures[team_id] = TeamFigures(team=names.get(team_id, "(no team)"))
        return figures[team_id]

    for item in (
        visible.filter(state__in=OPEN_STATES).values("team_id").annotate(n=Count("id")).order_by()
    ):
        row(item["team_id"]).open = item["n"]
    open_clocks = clocks.filter(complaint__state__in=OPEN_STATES)
    for item in (
        open_clocks.filter(
            Q(state=ClockState.BREACHED, stopped_at__isnull=True)
            | Q(state=ClockState.RUNNING, due_at__lte=now)
        )
        .values("complaint__team_id")
        .annotate(n=Count("complaint_id", distinct=True))
        .order_by()
    ):
        row(item["complaint__team_id"]).breached = item["n"]
    for item in (
        open_clocks.filter(state=ClockState.RUNNING, warn_at__lte=now, due_at__gt=now)
        .values("complaint__team_id")
        .annotate(n=Count("complaint_id", distinct=True))
        .order_by()
    ):
        row(item["complaint__team_id"]).at_risk = item["n"]
    for item in (
        clocks.filter(kind=ClockKind.ACKNOWLEDGE, stopped_at__gte=start_of_day)
        .exclude(state=ClockState.CANCELLED)
        .values("complaint__team_id")
        .annotate(
            n=Count("id"),
            on_time=Count("id", filter=Q(state=ClockState.MET)),
        )
        .order_by()
    ):
        figures_row = row(item["complaint__team_id"])
        figures_row.acknowledged_today = item["n"]
        figures_row.acknowledged_on_time = item["on_time"]
    return sorted(figures.values(), key=lambda f: (f.team == "(no team)", f.team))


def latest_event_id(complaint_id: int | None = None) -> int:
    """The newest outbox id now, read *before* a live page's own queries: the page's script
    says it on connecting, and is sent every event after it, so nothing committed between
    the page's reads and the socket's start is missed."""
    if connection.vendor != "postgresql":
        return (_newest_outbox_row(complaint_id).values_list("id", flat=True).first()) or 0
    if complaint_id is None:
        found = _NEWEST_OUTBOX_ID.run()
    else:
        found = _NEWEST_OUTBOX_ID_OF_COMPLAINT.run(complaint_id=complaint_id)
    return found[0]["id"] if found else 0


def _newest_outbox_row(complaint_id: int | None = None) -> QuerySet[Outbox]:
    rows = Outbox.objects.all()
    if complaint_id is not None:
        rows = rows.filter(complaint_id=complaint_id)
    return rows.order_by("-id")


# Compiled once per process (common.compiled_queries): every live page reads it.
_NEWEST_OUTBOX_ID = CompiledQuery(lambda: _newest_outbox_row().values("id")[:1])
_NEWEST_OUTBOX_ID_OF_COMPLAINT = CompiledQuery(
    lambda complaint_id: _newest_outbox_row(complaint_id).values("id")[:1], complaint_id=int
)
