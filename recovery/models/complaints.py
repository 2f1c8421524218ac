"""The complaint and everything recorded about it.

Model members follow Django's order: fields, managers, Meta, __str__, save, methods.
"""

import threading

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransition, ConcurrentTransitionMixin, FSMField, transition

from recovery import rules

ROOT_CAUSE_CODE_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$",
    _("Use lower-case words joined by dots, such as billing.duplicate-charge."),
)


class Team(models.Model):
    """A group of frontline agents working one queue, led by its supervisors."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True, verbose_name=_("members")
    )
    # Where intake routes a complaint that no routing rule matches (recovery.services.routing),
    # so that every complaint lands in some team's queue.
    is_triage = models.BooleanField(
        _("triage team"),
        default=False,
        help_text=_("Complaints that no routing rule matches go to this team. Only one team."),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_triage"],
                condition=models.Q(is_triage=True),
                name="team_one_triage_team",
                violation_error_message=_("Another team is already the triage team."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """Product or service category; routes new complaints to a team."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    slug = models.SlugField(_("slug"), max_length=150, unique=True)
    default_team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name


class Touchpoint(models.Model):
    """Where the customer met the company (store, website, call centre, courier…)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class JourneyStage(models.Model):
    """A stage of the customer journey; configurable, seeded with the usual ten."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class RootCause(models.Model):
    """A code in the hierarchical root-cause taxonomy (``billing > duplicate charge``).

    Codes are retired, never deleted, so resolutions that used them keep their meaning.
    """

    code = models.CharField(
        _("code"),
        max_length=200,
        unique=True,
        validators=[ROOT_CAUSE_CODE_VALIDATOR],
        help_text=_("Dotted path, lower case: billing.duplicate-charge"),
    )
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    description = models.TextField(_("description"), blank=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    # Who must act on the cause: the department's touchpoint and a named owner, who is told
    # when the cause starts rising.
    touchpoint = models.ForeignKey(
        "Touchpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_root_causes",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        names, node, seen = [], self, set()
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            names.append(node.name)
            node = node.parent
        return " > ".join(reversed(names))

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class Customer(models.Model):
    """Someone who complains; linked to a login when they use the portal or the API."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer",
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=16, default="en")
    segment = models.CharField(_("segment"), max_length=50, blank=True)
    # Made for one complaint filed under an existing customer's address by someone who has
    # not proven it (recovery.services.address_proof): it holds what the filer typed, so the
    # filer sees nothing of the existing customer, and intake never matches it by email.
    provisional = models.BooleanField(_("provisional"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Intake matches an existing customer by email (case-insensitive) or external id;
            # provisional records share the address of the customer they may turn out to be.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email="") & models.Q(provisional=False),
                name="customer_email_unique_ci",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="customer_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerContact(models.Model):
    """An address other than the customer's own that may write for them by email.

    A partner, a representative, a work address: staff authorise one by accepting an email it
    sent that was held for review (``recovery.services.contacts``); its later replies are
    then taken as the customer's, as those from the customer's own address are.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(_("email"), max_length=254)
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("authorised by"),
    )
    # The complaint whose held email was accepted: where the timeline says why.
    complaint = models.ForeignKey(
        "Complaint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    authorised_at = models.DateTimeField(_("authorised at"), default=timezone.now)

    class Meta:
        ordering = ["customer", "email"]
        constraints = [
            # One row per address and customer, whatever its case; its index answers "may
            # this address write for this customer" (customer_id = %s AND lower(email) = %s).
            models.UniqueConstraint("customer", Lower("email"), name="customer_contact_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.email} for {self.customer_id}"


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    SOCIAL = "social", _("Social media")
    LETTER = "letter", _("Letter")
    IN_PERSON = "in_person", _("In person")
    API = "api", _("API")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class State(models.TextChoices):
    RECEIVED = "received", _("Received")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")
    LOOP_CLOSED = "loop_closed", _("Loop closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Outcome(models.TextChoices):
    UPHELD = "upheld", _("Upheld")
    PARTLY_UPHELD = "partly_upheld", _("Partly upheld")
    NOT_UPHELD = "not_upheld", _("Not upheld")


OPEN_STATES = (State.RECEIVED, State.ACKNOWLEDGED)


class Urgency(models.IntegerChoices):
    """How urgent a complaint's deadlines make it, most urgent first: the queues' first sort
    key (``Complaint.urgency``), kept with the deadline copy by the escalation app."""

    STATUTORY_BREACHED = 0, _("Statutory deadline breached")
    BREACHED = 1, _("Breached")
    AT_RISK = 2, _("At risk")
    RUNNING = 3, _("On track")
    NO_DEADLINE = 4, _("No deadline")


# The longest story and message any channel takes (form, API, email): long enough for the
# longest honest complaint letter; the 2 MiB body cap stops the rest.
DESCRIPTION_MAX_CHARS = 50_000
MESSAGE_MAX_CHARS = 20_000


class ReferenceCounter(models.Model):
    """The last complaint number issued in a year; gives references like RDR-2026-000123."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


# Serialises django-fsm's refreshes of a complaint (``Complaint.refresh_from_db``); re-entrant,
# since a refresh reads deferred fields by refreshing again.
_FSM_REFRESH_LOCK = threading.RLock()


# What the desk's queue filters and orders on besides the urgency and the id, carried by its
# indexes (complaint_open_urgency_idx, complaint_mine_urgency_idx, complaint_state_urgency_idx).
QUEUE_FILTER_COLUMNS = (
    "team",
    "assignee",
    "channel",
    "severity",
    "category",
    "regulatory_profile",
    "customer",
    "overdue_since",
    "next_deadline_at",
)


class Complaint(ConcurrentTransitionMixin, models.Model):
    """A customer complaint moving through received → acknowledged → resolved → loop closed.

    The transition methods below are the state machine's declaration: they name source,
    target, conditions and permission, and change the state only. Everything else a
    transition does (locking, saving, timeline, outbox) is in ``recovery.services.lifecycle``.
    """

    reference = models.CharField(_("reference"), max_length=32, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="complaints")
    # The existing customer whose address the complaint was filed under, while the address is
    # not proven: ``customer`` is then a provisional record. Cleared when the link emailed to
    # the address is followed, or staff link it by hand (recovery.services.address_proof).
    customer_match = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("possible customer, address not confirmed"),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    journey_stage = models.ForeignKey(
        JourneyStage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="complaints"
    )
    product = models.CharField(_("product"), max_length=200, blank=True)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.MEDIUM
    )
    priority = models.CharField(
        _("priority"), max_length=16, choices=Priority.choices, default=Priority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"))
    remedy_sought = models.TextField(_("remedy sought"), blank=True)
    occurred_on = models.DateField(_("occurred on"), null=True, blank=True)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=16, blank=True)
    # Which regulator's clock applies (FCA DISP, CFPB, ...); the SLA engine reads it.
    regulatory_profile = models.CharField(_("regulatory profile"), max_length=50, blank=True)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="complaints"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_complaints",
    )
    state = FSMField(
        _("state"), max_length=16, choices=State.choices, default=State.RECEIVED, protected=True
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    resolution_summary = models.TextField(_("resolution summary"), blank=True)
    withdrawal_reason = models.TextField(_("withdrawal reason"), blank=True)
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates"
    )
    reopen_count = models.PositiveIntegerField(_("times reopened"), default=0)
    # Business time it took, on the complaint's calendar, fixed when the transition happens so
    # the KPIs aggregate a column instead of re-walking calendars row by row.
    business_seconds_to_acknowledge = models.PositiveIntegerField(
        _("business seconds to acknowledge"), null=True, blank=True
    )
    business_seconds_to_resolve = models.PositiveIntegerField(
        _("business seconds to resolve"), null=True, blank=True
    )
    # Where an imported complaint came from ("cfpb") and its id there: imports are idempotent.
    source = models.CharField(_("source"), max_length=32, blank=True)
    external_id = models.CharField(_("external id"), max_length=64, blank=True)
    # What the source said that has no column of its own (company, timeliness, tags...).
    source_data = models.JSONField(_("source data"), default=dict, blank=True)
    # Waiting for the customer to answer: pausable clocks stop while this is on.
    awaiting_customer = models.BooleanField(_("awaiting the customer"), default=False)
    # The customer wrote after the complaint was resolved (or its loop closed): a marker
    # for its last handler, not a state, so the declared transitions stay as they are.
    # Reopening it, or answering the customer, clears it (recovery.services.messages).
    customer_replied_at = models.DateTimeField(
        _("customer replied after closing"), null=True, blank=True
    )
    # Read-side copy of the clocks, kept by the escalation app in the same transaction as
    # the clock change, so the queue can sort and filter without touching the clock table.
    next_deadline_at = models.DateTimeField(_("next deadline"), null=True, blank=True)
    # The soonest running statutory duty alone (windows such as summary resolution left
    # out): the queue shows it beside the soonest deadline of all, often an internal target.
    next_statutory_deadline_at = models.DateTimeField(
        _("next statutory deadline"), null=True, blank=True
    )
    # The queues' order, from the same clocks at the same moment (escalation.services.snapshot):
    # breached (a statutory duty first) by how long overdue, then at risk, then on track, by
    # the next deadline, then no deadline. ``overdue_since`` is the due time of the most
    # overdue unanswered deadline (a statutory one where the complaint breached one) and
    # ``overdue_kind`` its clock's kind: the queue row says "Resolve overdue by 3 h".
    urgency = models.PositiveSmallIntegerField(
        _("urgency"), choices=Urgency.choices, default=Urgency.NO_DEADLINE
    )
    overdue_since = models.DateTimeField(_("overdue since"), null=True, blank=True)
    overdue_kind = models.CharField(_("overdue deadline"), max_length=32, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    next_escalation_at = models.DateTimeField(_("next escalation"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    # When a regulator passed the complaint on (the CFPB's "sent to company"): the statutory
    # clocks of such a regime count from here, not from receipt.
    sent_to_company_at = models.DateTimeField(_("sent to company at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    loop_closed_at = models.DateTimeField(_("loop closed at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    # Signed into the customer's tracking link (recovery.services.tracking_links); raising it
    # revokes every link issued before, with no list of revoked links to keep.
    tracking_link_version = models.PositiveIntegerField(_("tracking link version"), default=1)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("acknowledge_complaint", "Can acknowledge a complaint"),
            ("resolve_complaint", "Can resolve a complaint"),
            ("close_loop_complaint", "Can close the loop on a complaint"),
            ("reopen_complaint", "Can reopen a resolved complaint"),
            ("withdraw_complaint", "Can withdraw a complaint"),
            ("work_any_complaint", "Can work complaints of any team"),
            ("add_internal_note", "Can add internal notes"),
            ("escalate_complaint", "Can escalate or de-escalate a complaint by hand"),
            ("assign_complaint", "Can assign complaints to anyone"),
            (
                "change_regulation_complaint",
                "Can change a complaint's regulatory profile, jurisdiction or sent-to time",
            ),
        ]
        indexes = [
            # The queue: GET /api/complaints/?state=...&team=... ordered by received_at.
            models.Index(fields=["state", "team", "-received_at"], name="complaint_queue_idx"),
            # "My queue": assignee filter.
            models.Index(fields=["assignee", "state"], name="complaint_assignee_idx"),
            # Queues sorted by the next deadline (ordering=next_deadline_at).
            models.Index(fields=["next_deadline_at"], name="complaint_next_deadline_idx"),
            # The queues in urgency order (desk.selectors.QUEUE_ORDER): WHERE <open> AND (team
            # IN (…) OR team IS NULL) AND <filters> ORDER BY urgency, COALESCE(overdue_since,
            # next_deadline_at), id LIMIT 51 OFFSET …. The team, every filtered column
            # (QUEUE_FILTER_COLUMNS: assignee, channel, severity, category, profile), the
            # customer (a search by name, email or telephone) and the two deadline columns the
            # order's COALESCE is made of are carried, so that the page's ids and the capped
            # count are an index-only scan whatever the filters: PostgreSQL considers an
            # index-only scan only when every column the query names is in the index.
            models.Index(
                "urgency",
                Coalesce("overdue_since", "next_deadline_at"),
                "id",
                *QUEUE_FILTER_COLUMNS,
                condition=models.Q(state__in=["received", "acknowledged"]),
                name="complaint_open_urgency_idx",
            ),
            # My queue in the same order: WHERE assignee_id = … AND <open> ORDER BY ….
            models.Index(
                "assignee",
                "urgency",
                Coalesce("overdue_since", "next_deadline_at"),
                "id",
                *(column for column in QUEUE_FILTER_COLUMNS if column != "assignee"),
                condition=models.Q(state__in=["received", "acknowledged"]),
                name="complaint_mine_urgency_idx",
            ),
            # The queue filtered to one state (?state=resolved, …) in the same order, index
            # only likewise: WHERE state = … AND <filters> ORDER BY urgency, ….
            models.Index(
                "state",
                "urgency",
                Coalesce("overdue_since", "next_deadline_at"),
                "id",
                *QUEUE_FILTER_COLUMNS,
                name="complaint_state_urgency_idx",
            ),
            # The filtered queue's capped count when few complaints match (a team's emails of
            # low severity): the urgency indexes above carry every column but are wide, and
            # counting a few hundred matches meant reading all of the open ones' entries
            # (10 ms at 60,000 open complaints); here the team and the filters lead, so the
            # matches are one narrow range (2 ms). A large queue is still counted in urgency
            # order, stopping at the cap.
            models.Index(
                fields=[
                    "team",
                    "channel",
                    "severity",
                    "regulatory_profile",
                    "category",
                    "assignee",
                ],
                condition=models.Q(state__in=["received", "acknowledged"]),
                name="complaint_open_filters_idx",
            ),
            # Insights over a period: WHERE received_at BETWEEN ... (Pareto, trends, KPIs).
            models.Index(fields=["received_at"], name="complaint_received_idx"),
            # Repeat complaints: one customer's complaints in time order.
            models.Index(fields=["customer", "received_at"], name="complaint_customer_idx"),
            # The "Customer replied" queue: WHERE customer_replied_at IS NOT NULL, newest first.
            models.Index(
                fields=["-customer_replied_at"],
                condition=models.Q(customer_replied_at__isnull=False),
                name="complaint_customer_replied_idx",
            ),
            # Complaints nobody picked up (recovery.services.unpicked): open, unassigned and
            # taken in by intake (imports are history), WHERE created_at <= now - N minutes.
            models.Index(
                fields=["created_at"],
                condition=models.Q(
                    assignee__isnull=True, state__in=["received", "acknowledged"], source=""
                ),
                name="complaint_unpicked_idx",
            ),
        ]
        constraints = [
            # An import finds the complaint it made before by (source, external id).
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="complaint_source_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, only_if=None, **kwargs) -> None:
        """``only_if``: a condition (a ``Q`` on complaints) the row must still meet, checked
        by the UPDATE itself and so with what has committed by then, after the row lock: a
        read with the lock sees the other tables as they were when the read began, before
        waiting for the lock (``lifecycle.complaint_close_loop``). Unmet, nothing is saved
        and ``ConcurrentTransition`` is raised, which rolls the change back."""
        self._save_only_if = only_if
        try:
            super().save(*args, **kwargs)
        finally:
            self._save_only_if = None

    def _do_update(self, base_qs, *args, **kwargs):
        only_if = getattr(self, "_save_only_if", None)
        if only_if is None:
            return super()._do_update(base_qs, *args, **kwargs)
        if not super()._do_update(base_qs.filter(only_if), *args, **kwargs):
            raise ConcurrentTransition(f"{self.reference} no longer meets the change's condition.")
        return True

    def refresh_from_db(self, *args, **kwargs) -> None:
        # django-fsm lets a refresh write the protected state by switching protection off
        # on the field, which all threads share, and on again afterwards: two refreshes at
        # once in one process (ASGI runs requests in threads) turned it back on under the
        # other, whose refresh then failed with "Direct state modification is not allowed".
        with _FSM_REFRESH_LOCK:
            super().refresh_from_db(*args, **kwargs)

    # -- the state machine -------------------------------------------------------------

    @transition(
        field=state,
        source=State.RECEIVED,
        target=State.ACKNOWLEDGED,
        conditions=[rules.has_acknowledgement_message],
        permission=rules.may_acknowledge,
    )
    def acknowledge(self) -> None:
        """Tell the customer we have it, under which reference, and what happens next."""

    @transition(
        field=state,
        source=State.ACKNOWLEDGED,
        target=State.RESOLVED,
        conditions=[rules.has_resolution, rules.has_primary_root_cause],
        permission=rules.may_resolve,
    )
    def resolve(self) -> None:
        """Record the outcome, the resolution and the root causes."""

    @transition(
        field=state,
        source=State.RESOLVED,
        target=State.LOOP_CLOSED,
        conditions=[rules.has_loop_closing_message],
        permission=rules.may_close_loop,
    )
    def close_loop(self) -> None:
        """Tell the customer what was found, what was done, and what will change."""

    @transition(
        field=state,
        # From loop_closed too: a customer who answers the loop-closing message may show
        # that the resolution did not hold (docs/lifecycle.md).
        source=[State.RESOLVED, State.LOOP_CLOSED],
        target=State.ACKNOWLEDGED,
        permission=rules.may_reopen,
    )
    def reopen(self) -> None:
        """The resolution did not hold; the complaint is worked again."""

    @transition(
        field=state,
        source=[State.RECEIVED, State.ACKNOWLEDGED],
        target=State.WITHDRAWN,
        conditions=[rules.has_withdrawal_reason],
        permission=rules.may_withdraw,
    )
    def withdraw(self) -> None:
        """The customer withdrew it, or it duplicates another complaint."""

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class ComplaintRootCause(models.Model):
    """A root cause recorded on a resolution: one primary, any number contributing."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="root_causes")
    root_cause = models.ForeignKey(RootCause, on_delete=models.PROTECT, related_name="+")
    is_primary = models.BooleanField(_("primary"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["complaint", "root_cause"], name="complaint_root_cause_unique"
            ),
            models.UniqueConstraint(
                fields=["complaint"],
                condition=models.Q(is_primary=True),
                name="complaint_one_primary_root_cause",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id}: {self.root_cause_id}"


class EventType(models.TextChoices):
    RECEIVED = "received", _("Received")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")
    LOOP_CLOSED = "loop_closed", _("Loop closed")
    REOPENED = "reopened", _("Reopened")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    MESSAGE_ADDED = "message_added", _("Message added")
    NOTE_ADDED = "note_added", _("Internal note added")
    ASSIGNED = "assigned", _("Assigned")
    AWAITING_CUSTOMER = "awaiting_customer", _("Awaiting the customer")
    AWAITING_ENDED = "awaiting_ended", _("No longer awaiting the customer")
    CLOCK_WARNING = "clock_warning", _("Deadline at risk")
    CLOCK_BREACHED = "clock_breached", _("Deadline breached")
    ESCALATED = "escalated", _("Escalated")
    DE_ESCALATED = "de_escalated", _("De-escalated")
    ESCALATION_REQUESTED = "escalation_requested", _("Customer asked for escalation")
    RECOVERY_PROPOSED = "recovery_proposed", _("Recovery proposed")
    RECOVERY_APPROVAL_REQUESTED = "recovery_approval_requested", _("Recovery awaits approval")
    RECOVERY_APPROVED = "recovery_approved", _("Recovery approved")
    RECOVERY_DECLINED = "recovery_declined", _("Recovery declined")
    RECOVERY_DELIVERED = "recovery_delivered", _("Recovery delivered")
    SURVEY_SENT = "survey_sent", _("Survey sent")
    SURVEY_ANSWERED = "survey_answered", _("Survey answered")
    CORRECTIVE_ACTION_LINKED = "corrective_action_linked", _("Corrective action linked")
    REGULATION_CHANGED = "regulation_changed", _("Regulatory profile or jurisdiction changed")
    OBLIGATION_ANSWERED = "obligation_answered", _("Statutory obligation answered")
    DELAY_NOTIFIED = "delay_notified", _("Delay of a statutory response notified")
    DEADLINE_EXTENDED = "deadline_extended", _("Statutory deadline extended")
    EMAIL_HELD = "email_held", _("Email held for review")
    HELD_EMAIL_ACCEPTED = "held_email_accepted", _("Held email accepted as the customer's")
    HELD_EMAIL_OPENED = "held_email_opened", _("Held email opened as a new complaint")
    HELD_EMAIL_DISCARDED = "held_email_discarded", _("Held email discarded")
    EMAIL_NOT_DELIVERED = "email_not_delivered", _("Email to the customer not delivered")
    EMAIL_RESENT = "email_resent", _("Email to the customer sent again")
    CUSTOMER_REPLIED_AFTER_CLOSING = (
        "customer_replied_after_closing",
        _("Customer replied after closing"),
    )
    ROUTED = "routed", _("Routed to a team")
    UNPICKED = "unpicked", _("Nobody has picked it up")
    TRACKING_LINK_REISSUED = "tracking_link_reissued", _("Tracking link revoked and re-issued")
    DETAILS_CORRECTED = "details_corrected", _("Details corrected")
    CUSTOMER_ADDRESS_CONFIRMED = (
        "customer_address_confirmed",
        _("Address confirmed: linked to the customer's record"),
    )
    CUSTOMER_LINKED_BY_STAFF = "customer_linked_by_staff", _("Linked to a customer by staff")
    RECOVERY_DECIDED_AFTER_CLOSING = (
        "recovery_decided_after_closing",
        _("Recovery decided after closing: customer told"),
    )
    # On the complaint that survives a merge (recovery.services.merge); the duplicate's own
    # timeline says "withdrawn" with the survivor's reference.
    DUPLICATE_MERGED = "duplicate_merged", _("A duplicate complaint was merged into this one")
    ATTACHMENT_ADDED = "attachment_added", _("File attached")
    ATTACHMENT_REFUSED = "attachment_refused", _("File refused")
    # Reclassified by staff or a macro (recovery.services.categories): its internal deadlines
    # are re-planned under the new category's policy, its statutory ones never.
    CATEGORY_CHANGED = "category_changed", _("Category changed")
    # A macro naming a root cause was used: the resolve form offers that cause first.
    ROOT_CAUSE_SUGGESTED = "root_cause_suggested", _("Root cause suggested by a macro")


# Timeline entries only staff see: the customer's timeline, tracking feed and emails leave
# them out (recovery.events decides the audience from this, recovery.selectors the view).
STAFF_ONLY_EVENT_TYPES = frozenset(
    {
        EventType.NOTE_ADDED,
        EventType.ASSIGNED,
        EventType.CLOCK_WARNING,
        EventType.CLOCK_BREACHED,
        EventType.ESCALATED,
        EventType.DE_ESCALATED,
        # Approval traffic is internal; the customer hears of a recovery once it is offered
        # (proposed within authority, or approved) and when it is delivered.
        EventType.RECOVERY_APPROVAL_REQUESTED,
        EventType.RECOVERY_DECLINED,
        EventType.SURVEY_ANSWERED,
        EventType.CORRECTIVE_ACTION_LINKED,
        EventType.REGULATION_CHANGED,
        # A typo fixed in the subject is bookkeeping; the customer keeps what they wrote.
        EventType.DETAILS_CORRECTED,
        # Compliance bookkeeping: the customer has the letter itself (message_added).
        EventType.OBLIGATION_ANSWERED,
        EventType.DELAY_NOTIFIED,
        EventType.DEADLINE_EXTENDED,
        # Mail from an address that is not the customer's, or that failed DMARC: the
        # customer must never see it as theirs, nor learn from their timeline that it came.
        EventType.EMAIL_HELD,
        EventType.HELD_EMAIL_ACCEPTED,
        EventType.HELD_EMAIL_OPENED,
        EventType.HELD_EMAIL_DISCARDED,
        # A bounce is about our mail system and the customer's address, for staff to act on;
        # the marker of a late reply is a queue entry (the reply itself is message_added).
        EventType.EMAIL_NOT_DELIVERED,
        EventType.EMAIL_RESENT,
        EventType.CUSTOMER_REPLIED_AFTER_CLOSING,
        # Which team and rule took the complaint is internal (a rule may name a segment).
        EventType.ROUTED,
        EventType.UNPICKED,
        # Which customer record a complaint joined is staff's business: the filer of an
        # unproven complaint must not learn from its feed whose address they used.
        EventType.CUSTOMER_ADDRESS_CONFIRMED,
        EventType.CUSTOMER_LINKED_BY_STAFF,
        # The customer sees their files and ours on the tracking page; the record of each,
        # and of a part of their email that was refused (a virus, a program), is staff's.
        EventType.ATTACHMENT_ADDED,
        EventType.ATTACHMENT_REFUSED,
        # How we file a complaint, and what a macro suggested it was caused by, is ours.
        EventType.CATEGORY_CHANGED,
        EventType.ROOT_CAUSE_SUGGESTED,
    }
)


class AppendOnlyError(Exception):
    """Raised on an attempt to change or delete a timeline row."""


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk writes that would rewrite history are refused, like the row-level ones."""

    def update(self, **kwargs):
        raise AppendOnlyError("Timeline events cannot be changed once written.")

    def delete(self):
        raise AppendOnlyError("Timeline events cannot be deleted.")


class ComplaintEvent(models.Model):
    """One row per thing that happened to a complaint: its timeline and audit trail.

    Append-only: rows are inserted by ``recovery.events`` and never updated or deleted.
    """

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(_("type"), max_length=32, choices=EventType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The complaint page's timeline: events of one complaint in order.
            models.Index(fields=["complaint", "created_at"], name="event_timeline_idx"),
            # Insights' replies after closing in a period (WHERE type = '...' AND created_at
            # BETWEEN ...): a few rows among millions of events.
            models.Index(
                fields=["created_at"],
                condition=models.Q(type="customer_replied_after_closing"),
                name="event_replied_after_close_idx",
            ),
            # The resolve form's recently used root causes (desk.selectors): WHERE type =
            # 'resolved' AND (actor or team) ORDER BY id DESC LIMIT 50, newest first.
            models.Index(
                fields=["-id"],
                condition=models.Q(type="resolved"),
                name="event_resolved_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.type}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Timeline events cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Timeline events cannot be deleted.")


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", _("From the customer")
    OUTBOUND = "outbound", _("To the customer")
    INTERNAL = "internal", _("Internal note")


class MessageKind(models.TextChoices):
    ORIGINAL = "original", _("Original complaint")
    REPLY = "reply", _("Reply")
    ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
    HOLDING = "holding", _("Holding response")
    WRITTEN_RESPONSE = "written_response", _("Written response (no final response yet)")
    DELAY_NOTIFICATION = "delay_notification", _("Delay notification")
    RESOLUTION = "resolution", _("Resolution")
    LOOP_CLOSING = "loop_closing", _("Loop-closing message")
    NOTE = "note", _("Internal note")


class Message(models.Model):
    """A message to or from the customer, or an internal note only staff can see."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(_("direction"), max_length=16, choices=MessageDirection.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=MessageKind.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    body = models.TextField(_("body"))
    # Who wrote an inbound message when it was not the customer themselves: a contact whose
    # held email staff accepted ("Sam Partner <sam@example.net>"). Blank: the customer.
    written_by = models.CharField(_("written by"), max_length=300, blank=True)
    # The one-time token of the form that sent it (the tracking page's reply form): the
    # same form posted again (a double click, a refresh) finds this message instead of
    # writing a second one. Blank for messages from anywhere else.
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    # A copy of a message of a duplicate merged into this complaint (recovery.services.merge):
    # the complaint it was first written on, which keeps its own. Copies count for no
    # transition's condition (an acknowledgement of the duplicate acknowledges nothing here).
    merged_from = models.ForeignKey(
        "Complaint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("copied from the duplicate"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Messages of one complaint in order (complaint page, conditions of transitions).
            models.Index(fields=["complaint", "kind"], name="message_complaint_kind_idx"),
        ]
        constraints = [
            # Two posts of one reply form at once: the second insert waits for the first to
            # commit and fails here, and then answers with the first message. Partial, so
            # the many messages without a key cost the index nothing.
            models.UniqueConstraint(
                fields=["complaint", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="message_idempotency_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.kind}"

    @property
    def is_internal(self) -> bool:
        return self.direction == MessageDirection.INTERNAL


class IdempotencyKey(models.Model):
    """Remembers an intake request by its ``Idempotency-Key`` so a retry is not a duplicate."""

    key = models.CharField(_("key"), max_length=255)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    request_hash = models.CharField(_("request hash"), max_length=64)
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        constraints = [
            # Keys are scoped per client: two API clients may pick the same key.
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return self.key
