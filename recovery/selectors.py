"""Reads of the recovery app: what a user may see, fetched in a fixed number of queries."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    CharField,
    Count,
    Exists,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, JSONObject, Lower

from common.compiled_queries import CompiledQuery
from common.errors import NotFound, OutsideYourQueue, PermissionDenied
from common.json_rows import instance, json_rows
from escalation import configuration
from escalation import selectors as escalation_selectors
from escalation.models import Clock, Escalation
from recovery import access, authority, roles, rules
from recovery.models import (
    ANY_CURRENCY,
    OPEN_STATES,
    STAFF_ONLY_EVENT_TYPES,
    ApprovalLimit,
    Category,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Customer,
    CustomerContact,
    EventType,
    Message,
    MessageDirection,
    RecoveryAction,
    RecoveryStatus,
    RootCause,
)


def complaints_visible_to(user) -> QuerySet[Complaint]:
    """The complaints ``user`` may see: the one policy of ``recovery.access``."""
    return access.complaints_visible_to(user)


# The relations a complaint's row is shown with (the queue, the detail); the detail also
# shows the existing customer a provisional one may be, and a change locks the row with all
# of them, for its answer (``complaint_changed``).
DETAIL_RELATIONS = ("customer", "team", "assignee", "category", "touchpoint", "journey_stage")
DETAIL_RELATIONS_WITH_MATCH = (*DETAIL_RELATIONS, "customer_match")


def complaint_queue(user) -> QuerySet[Complaint]:
    """The queue: one query per page whatever its size (joins, no per-row lookups)."""
    return complaints_visible_to(user).select_related(*DETAIL_RELATIONS)


def _one_by_reference(queryset: QuerySet[Complaint], reference: str, user) -> Complaint:
    """The complaint ``reference`` in ``queryset``.

    Not there: staff whom the access policy keeps from it are told whose queue it is (403;
    references are sequential, so its existence is no secret to them), anyone else that
    there is no complaint they can see (404, the same answer as for a reference nobody has).
    """
    _refuse_impossible_reference(reference)
    complaint = queryset.filter(reference=reference.upper()).first()
    if complaint is not None:
        return complaint
    raise _not_visible(reference, user)


def _refuse_impossible_reference(reference: str) -> None:
    # No reference contains NUL, and PostgreSQL refuses it even in a WHERE clause.
    if "\x00" in reference:
        raise NotFound(f"No complaint {reference!r} that you can see.")


def _not_visible(reference: str, user) -> Exception:
    """What to answer ``user`` for a reference they may not see (``_one_by_reference``)."""
    if rules.is_working_staff(user):
        elsewhere = (
            Complaint.objects.filter(reference=reference.upper())
            .values_list("reference", "team__name")
            .first()
        )
        if elsewhere is not None:
            return OutsideYourQueue(reference=elsewhere[0], team_name=elsewhere[1] or "")
    return NotFound(f"No complaint {reference!r} that you can see.")


def complaint_to_change(*, reference: str, user) -> Complaint:
    """The complaint a change is asked for, with its customer and team; 404 if not visible.

    Without the timeline and the rest of ``complaint_detail``: the change locks and reads the
    row again, and the answer is built from what it locked (``complaint_changed``).
    """
    return _one_by_reference(complaint_queue(user), reference, user)


def complaint_to_work(*, reference: str, user) -> Complaint:
    """Like ``complaint_to_change``, for what only staff who work the complaint may do:
    anyone else is refused (403) before their request's fields are looked at."""
    complaint = complaint_to_change(reference=reference, user=user)
    if not rules.works_on(complaint, user):
        raise PermissionDenied(f"Only staff who work {complaint.reference} may do this.")
    return complaint


# What the API shows of a user (``UserRefSerializer``): its reads of the timeline and the
# messages load no more of each actor and author (the desk's page shows their names).
_USER_REF = ("id", "username")


# The attribute of a timeline event read with ``assignees``: the user an assignment named.
ASSIGNEE_ROW = "assignee_row"


def _timeline_and_messages(user, *, api: bool = False, assignees: bool = False) -> list[Prefetch]:
    staff = roles.is_staff_member(user)
    timeline = _listed("events", staff=staff, api=api)
    if assignees:
        # The desk's timeline says to whom each assignment went: a subquery per event that
        # names one (the parameters' assignee_id), rather than a query of its own.
        named = get_user_model().objects.filter(
            pk=Cast(KeyTextTransform("assignee_id", OuterRef("parameters")), IntegerField())
        )
        timeline = timeline.annotate(
            **{
                ASSIGNEE_ROW: Subquery(
                    named.values(
                        row=JSONObject(
                            id="id",
                            username="username",
                            first_name="first_name",
                            last_name="last_name",
                        )
                    )[:1]
                )
            }
        )
    return [
        Prefetch("events", queryset=timeline),
        Prefetch("messages", queryset=_listed("messages", staff=staff, api=api)),
    ]


def _listed(name: str, *, staff: bool, api: bool = False) -> QuerySet:
    """A complaint's timeline (``events``), ``messages`` or ``clocks`` as shown to staff or
    to the customer; for the API only what its shape shows of each actor and author."""
    if name == "clocks":
        return _clocks().queryset
    model, user = (ComplaintEvent, "actor") if name == "events" else (Message, "author")
    rows = model.objects.select_related(user).order_by("created_at", "id")
    if api:
        rows = rows.only(
            *(field.attname for field in model._meta.concrete_fields),
            *(f"{user}__{field}" for field in _USER_REF),
        )
    if not staff:
        rows = (
            rows.exclude(type__in=STAFF_ONLY_EVENT_TYPES)
            if name == "events"
            else rows.exclude(direction="internal")
        )
    return rows


# The API's reads of a complaint's lists, compiled once per process (common.compiled_queries):
# building these queries cost the API's detail more CPU than PostgreSQL spent answering them.
_API_LISTS = {
    (name, staff): CompiledQuery(
        lambda complaint_id, name=name, staff=staff: _listed(name, staff=staff, api=True).filter(
            complaint_id=complaint_id
        ),
        complaint_id=int,
    )
    for name in ("events", "messages", "clocks")
    for staff in (True, False)
}


def _hold_api_lists(complaint: Complaint, user, names) -> None:
    """Read ``names`` of the complaint's lists for the API's answer, one statement each."""
    staff = roles.is_staff_member(user)
    for name in names:
        rows = _API_LISTS[name, staff].run(complaint_id=complaint.pk)
        if rows:
            # What ``row.complaint = complaint`` leaves (each row has the complaint's id),
            # without the descriptor's checks for each of a long timeline's rows.
            remember = rows[0]._meta.get_field("complaint").set_cached_value
            for row in rows:
                remember(row, complaint)
        hold_as_prefetched(complaint, name, rows)


def _clocks() -> Prefetch:
    return Prefetch(
        "clocks",
        queryset=Clock.objects.select_related("policy", "calendar").order_by("started_at", "id"),
    )


def _escalations() -> Prefetch:
    return Prefetch(
        "escalations",
        queryset=Escalation.objects.select_related("owner", "actor", "clock").order_by(
            "created_at", "id"
        ),
    )


def _root_causes() -> Prefetch:
    return Prefetch(
        "root_causes",
        queryset=ComplaintRootCause.objects.select_related("root_cause__parent__parent").order_by(
            "-is_primary", "id"
        ),
    )


# What other apps bring along in a complaint's detail read for staff, so a page or an answer
# that shows it sends no statement of its own (the notifications app's undelivered emails).
# Each is a function giving ``annotate()`` arguments; the apps add theirs when they start
# (``AppConfig.ready``), so this app reads their rows without importing them.
STAFF_DETAIL_ANNOTATIONS: list = []


def _staff_annotations() -> dict:
    annotations = {}
    for annotation in STAFF_DETAIL_ANNOTATIONS:
        annotations.update(annotation())
    return annotations


def complaint_detail(*, reference: str, user, annotations: dict | None = None) -> Complaint:
    """One complaint with its timeline, messages, clocks, escalations, recovery actions and
    root causes (the desk's page of it); 404 if not visible.

    On PostgreSQL four statements: the row, with its escalations, recovery actions, root
    causes and (for staff) undelivered emails brought along as JSON arrays, and whatever
    ``annotations`` the caller adds for what it shows beside them (``annotate()``
    arguments); then its timeline, messages and clocks. Elsewhere a statement for each.
    """
    complaints = complaints_visible_to(user)
    if connection.vendor == "postgresql":
        complaints = with_api_annotations(complaints, user).annotate(
            **_recovery_actions_annotation(), **(annotations or {})
        )
    elif roles.is_staff_member(user):
        complaints = complaints.annotate(**_staff_annotations())
    complaint = _one_by_reference(
        complaints.select_related(*DETAIL_RELATIONS_WITH_MATCH), reference, user
    )
    if rules.is_working_staff(user) and not rules.sees_every_complaint(user):
        # Read through the access policy's staff scope, which is the scope they work in:
        # the rules need not ask again which teams they are on (a query per request).
        rules.remember_works_on(complaint, user)
    lookups = [*_timeline_and_messages(user, assignees=True), _clocks()]
    actions = _recovery_actions_brought(complaint)
    if actions is None:
        lookups.append(
            Prefetch(
                "recovery_actions",
                queryset=RecoveryAction.objects.select_related(
                    "proposed_by", "decided_by", "delivered_by"
                ).order_by("proposed_at", "id"),
            )
        )
    else:
        hold_as_prefetched(complaint, "recovery_actions", actions)
    escalations = escalation_selectors.escalations_brought(complaint)
    if escalations is None:
        lookups.append(_escalations())
    else:
        hold_as_prefetched(complaint, "escalations", escalations)
    causes = _root_causes_brought(complaint)
    if causes is None:
        lookups.append(_root_causes())
    else:
        hold_as_prefetched(complaint, "root_causes", causes)
    prefetch_related_objects([complaint], *lookups)
    return complaint


# The attribute of a complaint read with ``_recovery_actions_annotation``.
RECOVERY_ACTION_ROWS = "recovery_action_rows"
# Who proposed, decided and delivered each recovery action: what the API shows of them.
_ACTION_PEOPLE = ("proposed_by", "decided_by", "delivered_by")


def _recovery_actions_annotation() -> dict:
    """The complaint's recovery actions, oldest first, with the usernames of who proposed,
    decided and delivered them, as JSON (PostgreSQL)."""
    fields = {field.attname: field.attname for field in RecoveryAction._meta.concrete_fields}
    # As text: a JSON number would come back as a float (25.0 for 25.00).
    fields["amount"] = Cast("amount", CharField())
    return {
        RECOVERY_ACTION_ROWS: json_rows(
            RecoveryAction.objects.filter(complaint=OuterRef("pk")).order_by("proposed_at", "id"),
            **fields,
            **{f"{person}_username": f"{person}__username" for person in _ACTION_PEOPLE},
        )
    }


def _recovery_actions_brought(complaint: Complaint) -> list[RecoveryAction] | None:
    rows = getattr(complaint, RECOVERY_ACTION_ROWS, None)
    if rows is None:
        return None
    user_model = get_user_model()
    actions = []
    for row in rows:
        action = instance(RecoveryAction, row)
        action.complaint = complaint
        for person in _ACTION_PEOPLE:
            user_id = row[f"{person}_id"]
            setattr(
                action,
                person,
                instance(user_model, {"id": user_id, "username": row[f"{person}_username"]})
                if user_id
                else None,
            )
        actions.append(action)
    return actions


def complaint_api_detail(*, reference: str, user, just_filed: bool = False) -> Complaint:
    """One complaint with what the API's shape of it shows (``ComplaintDetailSerializer``:
    no recovery actions); 404 if not visible. Five statements with the token's: the row, with
    its escalations, root causes and undelivered emails brought along
    (``with_api_annotations``), then its timeline, messages and clocks.

    ``just_filed``: the answer to the intake that created it (or to a retry of that very
    request with its idempotency key), which the filer may read once even when they routed
    it to a team whose complaints they do not see: it holds what they wrote.
    """
    _refuse_impossible_reference(reference)
    scope, parameter = (access.ALL, None) if just_filed else access.visibility_scope(user)
    found = []
    if scope != access.NOTHING:
        values = {"reference": reference.upper()}
        if parameter is not None:
            values["parameter"] = parameter
        found = _api_detail_read(scope, roles.is_staff_member(user)).run(**values)
    if not found:
        raise _not_visible(reference, user)
    complaint = found[0]
    _api_relations(complaint, user)
    return complaint


# The API's read of one complaint, compiled once per process for each scope of the access
# policy (common.compiled_queries): building its SQL (seven joins, the access subqueries,
# three JSON arrays) cost more CPU than anything else in the API's detail.
_API_DETAIL_READS: dict[tuple[str, bool], CompiledQuery] = {}


def _api_detail_read(scope: str, staff: bool) -> CompiledQuery:
    read = _API_DETAIL_READS.get((scope, staff))
    if read is None:

        def build(reference, parameter=None):
            complaints = _with_api_annotations(access.complaints_in_scope(scope, parameter), staff)
            complaints = complaints.select_related(*DETAIL_RELATIONS_WITH_MATCH).filter(
                reference=reference
            )
            # What ``first()`` reads.
            return (complaints if complaints.ordered else complaints.order_by("pk"))[:1]

        parameters = {"reference": str} | ({} if scope == access.ALL else {"parameter": int})
        read = _API_DETAIL_READS[scope, staff] = CompiledQuery(build, **parameters)
    return read


def with_api_annotations(complaints: QuerySet[Complaint], user) -> QuerySet[Complaint]:
    """``complaints`` with the small relations the API's detail shows brought along in each
    row, on PostgreSQL (``common.json_rows``): escalations, root causes and, for staff, who
    alone see them, the undelivered emails (``STAFF_DETAIL_ANNOTATIONS``)."""
    return _with_api_annotations(complaints, roles.is_staff_member(user))


def _with_api_annotations(complaints: QuerySet[Complaint], staff: bool) -> QuerySet[Complaint]:
    if connection.vendor != "postgresql":
        return complaints
    annotations = {**escalation_selectors.escalations_annotation(), **_root_causes_annotation()}
    if staff:
        annotations.update(_staff_annotations())
    return complaints.annotate(**annotations)


def complaint_changed(complaint: Complaint, user) -> Complaint:
    """The answer to a change of ``complaint`` (a transition), in the API's shape: the
    instance the change locked (with ``DETAIL_RELATIONS_WITH_MATCH`` and
    ``with_api_annotations``) and wrote, with its timeline, messages and clocks read.

    The change saved the row's fields and put the SLA snapshot its clocks set on the
    instance (``snapshot.complaint_refresh_sla``), so the row is not read again: the same answer
    as ``complaint_api_detail``. A relation the change rewrote and kept on the instance
    (``hold_as_prefetched``: a resolution's root causes) is shown as kept.
    """
    _api_relations(complaint, user)
    return complaint


def _api_relations(complaint: Complaint, user) -> None:
    """Read the timeline, messages and clocks of ``complaint``; its escalations and root
    causes come from its row when the read brought them, else are read too (SQLite)."""
    _hold_api_lists(complaint, user, ("events", "messages", "clocks"))
    lookups = []
    escalations = escalation_selectors.escalations_brought(complaint)
    if escalations is None:
        lookups.append(_escalations())
    else:
        hold_as_prefetched(complaint, "escalations", escalations)
    if "root_causes" not in complaint.__dict__.get("_prefetched_objects_cache", {}):
        causes = _root_causes_brought(complaint)
        if causes is None:
            lookups.append(_root_causes())
        else:
            hold_as_prefetched(complaint, "root_causes", causes)
    if lookups:
        prefetch_related_objects([complaint], *lookups)


# The attribute of a complaint read with ``_root_causes_annotation``.
ROOT_CAUSE_ROWS = "root_cause_rows"


def _root_causes_annotation() -> dict:
    """The complaint's root causes, primary first, each with its cause and the two levels
    above it (what ``select_related("root_cause__parent__parent")`` reads), as JSON."""
    return {
        ROOT_CAUSE_ROWS: json_rows(
            ComplaintRootCause.objects.filter(complaint=OuterRef("pk")).order_by(
                "-is_primary", "id"
            ),
            id="id",
            complaint_id="complaint_id",
            root_cause_id="root_cause_id",
            is_primary="is_primary",
            created_at="created_at",
            code="root_cause__code",
            name="root_cause__name",
            parent_id="root_cause__parent_id",
            parent_name="root_cause__parent__name",
            grandparent_id="root_cause__parent__parent_id",
            grandparent_name="root_cause__parent__parent__name",
            grandparent_parent_id="root_cause__parent__parent__parent_id",
        )
    }


def _root_causes_brought(complaint: Complaint) -> list[ComplaintRootCause] | None:
    rows = getattr(complaint, ROOT_CAUSE_ROWS, None)
    if rows is None:
        return None
    links = []
    for row in rows:
        link = instance(ComplaintRootCause, row)
        link.complaint = complaint
        cause = instance(
            RootCause,
            {"id": row["root_cause_id"], "code": row["code"], "name": row["name"]}
            | {"parent_id": row["parent_id"]},
        )
        if row["parent_id"]:
            parent = instance(
                RootCause,
                {"id": row["parent_id"], "name": row["parent_name"]}
                | {"parent_id": row["grandparent_id"]},
            )
            if row["grandparent_id"]:
                parent.parent = instance(
                    RootCause,
                    {"id": row["grandparent_id"], "name": row["grandparent_name"]}
                    | {"parent_id": row["grandparent_parent_id"]},
                )
            cause.parent = parent
        link.root_cause = cause
        links.append(link)
    return links


def complaint_just_filed(complaint: Complaint, user) -> Complaint:
    """The answer to the intake that created ``complaint``, from the instance intake holds.

    Its customer, team and taxonomy are already on it, and the SLA snapshot its first
    clocks set (``snapshot.complaint_refresh_sla``); what intake wrote beside it (the timeline,
    the original message, the clocks) is read back, one query each, unless intake kept it
    (below), and what a new complaint cannot have yet (escalations, recovery actions, root
    causes) is not read at all. The same answer as ``complaint_api_detail(just_filed=True)``.

    The timeline, the original message and the first clocks are those intake holds
    (``intake.WrittenAtIntake``), when it handed them over: none is read back (the timeline
    is, where intake could not keep it: not on PostgreSQL). The timeline
    is shown as its read would show it to ``user`` (``_listed``): in time order, without the
    events only staff see when they are a customer.
    """
    written = getattr(complaint, "written_at_intake", None)
    if written is not None:
        if written.events is None:
            _hold_api_lists(complaint, user, ("events",))
        else:
            timeline = sorted(written.events, key=lambda event: (event.created_at, event.pk))
            if not roles.is_staff_member(user):
                timeline = [e for e in timeline if e.type not in STAFF_ONLY_EVENT_TYPES]
            hold_as_prefetched(complaint, "events", timeline)
        hold_as_prefetched(complaint, "messages", written.messages)
        hold_as_prefetched(complaint, "clocks", written.clocks)
    else:
        _hold_api_lists(complaint, user, ("events", "messages", "clocks"))
    # A complaint created in this request has none of these.
    for name in ("escalations", "recovery_actions", "root_causes"):
        hold_as_prefetched(complaint, name, [])
    return complaint


def hold_as_prefetched(complaint: Complaint, name: str, objects: list) -> None:
    """Make ``complaint.<name>.all()`` answer ``objects`` without a query, as a prefetch of
    that relation would (Django's ``prefetch_one_level`` keeps the same cache)."""
    queryset = getattr(complaint, name).get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    complaint.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def root_causes_by_code() -> dict[str, RootCause]:
    """The root-cause taxonomy by code, each cause linked to its parent (the answer shows
    their paths), read once per process until it changes (``escalation.configuration``).
    Shared by the process's requests: read-only."""

    def load() -> dict[str, RootCause]:
        causes = list(RootCause.objects.all())
        by_id = {cause.pk: cause for cause in causes}
        for cause in causes:
            cause.parent = by_id.get(cause.parent_id)
        return {cause.code: cause for cause in causes}

    return configuration.cached("root-causes-by-code", load)


def active_categories() -> list[tuple[int, str]]:
    """The categories in use as ``(id, name)`` by name, read once per process until one
    changes (``escalation.configuration``): the complaint page offers them on every view."""

    def load() -> list[tuple[int, str]]:
        return list(
            Category.objects.filter(is_active=True).order_by("name", "pk").values_list("pk", "name")
        )

    return configuration.cached("active-categories", load)


def supervisors_of(team_id: int | None) -> list[int]:
    """Active supervisors on the team; if it has none (a new triage team, say), the
    complaints managers, then the heads of CX: someone is always told."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True)
    for role, of_team in (
        (roles.SUPERVISOR, True),
        (roles.COMPLAINTS_MANAGER, False),
        (roles.HEAD_OF_CX, False),
    ):
        found = users.filter(groups__name=role)
        if of_team:
            found = found.filter(teams=team_id) if team_id else found.none()
        ids = sorted(set(found.values_list("pk", flat=True)))
        if ids:
            return ids
    return []


def not_picked_up() -> QuerySet:
    """Open complaints nobody has picked up: no assignee, taken in by intake (imports are
    history), and nobody on the staff has worked them either: no message to the customer
    (an acknowledgement is one) and no internal note. An agent who answered a complaint
    without taking it picked it up as far as its supervisors need to know."""
    worked = Message.objects.filter(
        complaint=OuterRef("pk"),
        direction__in=[MessageDirection.OUTBOUND, MessageDirection.INTERNAL],
    )
    return Complaint.objects.filter(
        assignee__isnull=True, state__in=OPEN_STATES, source=""
    ).exclude(Exists(worked))


def still_not_picked_up(complaint_id: int) -> bool:
    """Re-checked when an unpicked alert is delivered: someone may have taken it since."""
    return not_picked_up().filter(pk=complaint_id).exists()


def complaint_subject(complaint_id: int) -> str:
    """The complaint's subject, for a notification's one line ("" if it is gone)."""
    return Complaint.objects.filter(pk=complaint_id).values_list("subject", flat=True).first() or ""


def complaint_for_email(complaint_id: int) -> Complaint | None:
    """The complaint with what a customer email needs (customer, team), in one query."""
    return Complaint.objects.select_related("customer", "team").filter(pk=complaint_id).first()


def complaint_handler_ids(complaint: Complaint) -> list[int]:
    """Who answers for the complaint now: its assignee, else its team's active supervisors."""
    if complaint.assignee_id:
        return [complaint.assignee_id]
    if not complaint.team_id:
        return []
    return sorted(
        complaint.team.members.filter(is_active=True, groups__name=roles.SUPERVISOR)
        .values_list("pk", flat=True)
        .distinct()
    )


def last_handler_ids(complaint: Complaint) -> list[int]:
    """Who handled a closed complaint last: whoever resolved it last, and its assignee;
    failing both, as ``complaint_handler_ids``."""
    resolver = (
        ComplaintEvent.objects.filter(
            complaint=complaint, type=EventType.RESOLVED, actor__is_active=True
        )
        .order_by("-id")
        .values_list("actor_id", flat=True)
        .first()
    )
    ids = [user_id for user_id in (resolver, complaint.assignee_id) if user_id]
    return list(dict.fromkeys(ids)) or complaint_handler_ids(complaint)


def writes_for_customer(customer: Customer, address: str | None) -> bool:
    """Whether mail from ``address`` (an addr-spec, any case) counts as the customer's own:
    it is their address, or a contact staff authorised (``recovery.services.contacts``)."""
    if not address:
        return False
    address = address.strip().lower()
    if customer.email and customer.email.strip().lower() == address:
        return True
    return customer_contact(customer, address) is not None


def customer_contact(customer: Customer, address: str) -> CustomerContact | None:
    # lower(email) = lower(%s) uses the customer_contact_unique_ci index.
    return (
        CustomerContact.objects.alias(email_lower=Lower("email"))
        .filter(customer=customer, email_lower=Lower(Value(address)))
        .first()
    )


def subject_as_received(complaint: Complaint) -> str:
    """The complaint's subject before staff corrected it (``details_corrected``), if they did.

    The customer's emails about the complaint keep the subject they began with
    (``notifications.rendering.thread_subject``).
    """
    first_correction = (
        ComplaintEvent.objects.filter(
            complaint=complaint,
            type=EventType.DETAILS_CORRECTED,
            parameters__changes__has_key="subject",
        )
        .order_by("created_at", "id")
        .values_list("parameters", flat=True)
        .first()
    )
    if first_correction is None:
        return complaint.subject
    return str(first_correction["changes"]["subject"].get("before") or complaint.subject)


def message_body(message_id: int | None) -> str:
    if message_id is None:
        return ""
    return Message.objects.filter(pk=message_id).values_list("body", flat=True).first() or ""


# -- approval authority (the limits are read here; recovery.authority decides with them) --


def load_limits() -> authority.Limits:
    return {(row.role, row.currency): row.amount for row in ApprovalLimit.objects.all()}


def actor_roles(actor) -> list[str]:
    return [role for role in roles.STAFF_ROLES if roles.has_role(actor, role)]


def actor_limit(actor, currency: str, limits: authority.Limits | None = None) -> Decimal | None:
    """The actor's limit in ``currency``; pass ``limits`` when they are loaded already."""
    if actor.is_superuser:
        return authority.UNLIMITED
    limits = load_limits() if limits is None else limits
    return authority.actor_limit(limits, actor_roles(actor), currency)


# Actions that count as given: offered within authority, approved, or delivered.
GRANTED_STATUSES = (RecoveryStatus.PROPOSED, RecoveryStatus.APPROVED, RecoveryStatus.DELIVERED)


# The attribute of a complaint read with ``awaiting_recovery_annotation``.
AWAITING_RECOVERY = "awaiting_recovery_id"


def awaiting_recovery_annotation() -> dict:
    """The id of the complaint's oldest recovery action awaiting approval (or None), to be
    read in the same statement as the complaint (``lifecycle.complaint_close_loop``'s lock).
    The index ``recovery_complaint_idx`` (complaint, status) finds it."""
    return {
        AWAITING_RECOVERY: Subquery(
            RecoveryAction.objects.filter(
                complaint=OuterRef("pk"), status=RecoveryStatus.AWAITING_APPROVAL
            )
            .order_by("proposed_at", "id")
            .values("pk")[:1]
        )
    }


def no_recovery_awaiting_approval() -> Q:
    """A condition on complaints: none of its recovery actions awaits approval."""
    return ~Exists(
        RecoveryAction.objects.filter(
            complaint=OuterRef("pk"), status=RecoveryStatus.AWAITING_APPROVAL
        )
    )


def recovery_awaiting_approval(complaint_id: int) -> RecoveryAction | None:
    """The complaint's oldest recovery action awaiting approval, if any."""
    return (
        RecoveryAction.objects.filter(
            complaint_id=complaint_id, status=RecoveryStatus.AWAITING_APPROVAL
        )
        .order_by("proposed_at", "id")
        .first()
    )


def approvals_queue(user) -> QuerySet[RecoveryAction]:
    """Actions awaiting a decision this user has the authority to make, oldest first."""
    if not user.has_perm("recovery.decide_recoveryaction"):
        return RecoveryAction.objects.none()
    waiting = (
        RecoveryAction.objects.filter(
            status=RecoveryStatus.AWAITING_APPROVAL,
            complaint__in=complaints_visible_to(user),
        )
        .exclude(proposed_by=user)
        .select_related("complaint", "complaint__customer", "complaint__team", "proposed_by")
        .order_by("proposed_at", "id")
    )
    # Authority is per currency: one condition per currency waiting, all in one query.
    limits = load_limits()
    decidable = Q(pk__in=[])
    for currency in set(waiting.values_list("currency", flat=True).distinct()):
        limit = actor_limit(user, currency, limits)
        in_currency = Q(currency=currency)
        decidable |= in_currency if limit is None else in_currency & Q(amount__lte=limit)
    return waiting.filter(decidable)


def approvals_waiting_count(user) -> int:
    """How many actions ``approvals_queue(user)`` lists, in one query (the desk's header shows
    it on every page)."""
    waiting = _approvals_waiting(user)
    return 0 if waiting is None else waiting.count()


def approvals_waiting_subquery(user) -> Subquery | None:
    """``approvals_waiting_count`` as a subquery, for a page's read to bring along; None for
    whoever may not approve."""
    waiting = _approvals_waiting(user)
    if waiting is None:
        return None
    return Subquery(waiting.order_by().annotate(n=Func("id", function="COUNT")).values("n"))


def _approvals_waiting(user) -> QuerySet[RecoveryAction] | None:
    """The actions ``approvals_queue(user)`` lists: the queue's authority test — some role of
    the user has no limit in the currency, or one at least the amount; no limit row is no
    authority — as an ``EXISTS`` over the approval limits, instead of reading the limits and
    the currencies first."""
    if not user.has_perm("recovery.decide_recoveryaction"):
        return None
    waiting = RecoveryAction.objects.filter(
        status=RecoveryStatus.AWAITING_APPROVAL, complaint__in=complaints_visible_to(user)
    ).exclude(proposed_by=user)
    if not user.is_superuser:
        covering = ApprovalLimit.objects.filter(role__in=actor_roles(user)).filter(
            Q(currency=ANY_CURRENCY, amount__isnull=True)
            | Q(currency=OuterRef("currency"))
            & (Q(amount__isnull=True) | Q(amount__gte=OuterRef("amount")))
        )
        waiting = waiting.filter(Q(amount__lte=authority.NO_AUTHORITY) | Exists(covering))
    return waiting


def recovery_totals(*, complaint=None, customer=None, root_cause=None) -> list[dict]:
    """Granted recovery per currency and type for a complaint, a customer or a root cause.

    A root cause's total counts the complaints where it is the primary cause (each cost is
    attributed once) and includes its sub-causes.
    """
    actions = RecoveryAction.objects.filter(status__in=GRANTED_STATUSES)
    if complaint is not None:
        actions = actions.filter(complaint=complaint)
    if customer is not None:
        actions = actions.filter(complaint__customer=customer)
    if root_cause is not None:
        code = root_cause.code
        primary = ComplaintRootCause.objects.filter(is_primary=True).filter(
            Q(root_cause__code=code) | Q(root_cause__code__startswith=f"{code}.")
        )
        actions = actions.filter(complaint__in=primary.values("complaint"))
    return list(
        actions.values("currency", "type")
        .annotate(total=Sum("amount"), count=Count("id"))
        .order_by("currency", "type")
    )
