"""Taking a complaint in: from the API, the portal, email or an import."""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from common.compiled_inserts import CompiledInsert
from common.compiled_queries import CompiledQuery
from common.errors import Conflict, PermissionDenied, ValidationFailed
from escalation import configuration
from escalation.services import clocks
from recovery import events, roles
from recovery.models import (
    Category,
    Channel,
    Complaint,
    Customer,
    IdempotencyKey,
    JourneyStage,
    Message,
    MessageDirection,
    MessageKind,
    Team,
    Touchpoint,
)
from recovery.services import regulation, routing
from recovery.services.references import allocate_reference, allocate_reference_unless


@dataclass(frozen=True)
class CustomerDetails:
    name: str
    email: str = ""
    phone: str = ""
    external_id: str = ""
    preferred_language: str = "en"


@dataclass(frozen=True)
class ComplaintIntake:
    """What a new complaint says, already checked field by field by the caller's form."""

    subject: str
    description: str
    channel: str = Channel.API
    remedy_sought: str = ""
    customer: CustomerDetails | None = None
    category: str = ""
    touchpoint: str = ""
    journey_stage: str = ""
    product: str = ""
    severity: str = ""
    priority: str = ""
    occurred_on: date | None = None
    jurisdiction: str = ""
    regulatory_profile: str = ""
    team: str = ""
    received_at: datetime | None = None
    sent_to_company_at: datetime | None = None
    extra: dict = field(default_factory=dict)
    # False for mail no automatic answer may go to (list mail, RFC 3834): the complaint is
    # opened, and its received event says that no receipt is sent.
    receipt: bool = True
    # Whether whoever submits vouches for the customer's address: staff who say who the
    # customer is do, as does mail that passed DMARC. The public form does not (anyone may
    # type any address): an address of an existing customer then files the complaint on a
    # provisional record until the address is proven (recovery.services.address_proof).
    address_proven: bool = True


@dataclass(frozen=True)
class WrittenAtIntake:
    """What intake wrote beside a new complaint's row, as written (ordered as read): every
    timeline event (None where it must be read back), message and clock of the new
    complaint."""

    events: list | None
    messages: list
    clocks: list


# A subject made from a story is at most this long: the queue shows it on one line.
DERIVED_SUBJECT_CHARS = 80
ELLIPSIS = "\u2026"


# The rows an intake writes, with their INSERTs built once per process: compiling each as
# ``objects.create()`` does cost an intake more CPU than anything else it does.
# A new complaint's row goes in with its original message's words (``message_document``,
# PostgreSQL only, kept by the messages' trigger: recovery migrations 0036 and 0038), as the
# message's generated ``search_document`` makes them from its body, the description (the
# same configuration, without accents: migration 0041): the trigger then finds them there
# and does not write the row again.
MESSAGE_WORDS = "to_tsvector('redress_english'::regconfig, coalesce(%s, ''))"
_COMPLAINTS = CompiledInsert(
    Complaint,
    extra_columns={"message_document": (MESSAGE_WORDS, lambda complaint: complaint.description)},
)
_MESSAGES = CompiledInsert(Message)
_CUSTOMERS = CompiledInsert(Customer)
_IDEMPOTENCY_KEYS = CompiledInsert(IdempotencyKey)


def subject_from_description(description: str, *, limit: int = DERIVED_SUBJECT_CHARS) -> str:
    """A one-line subject for a complaint that came without one: the story's first line.

    1. The first line that says something, its white space folded.
    2. If it is longer than ``limit``, it is cut at the last word boundary that leaves room
       for an ellipsis, and the ellipsis added: "charged twice for…", not "charged twi…".
    3. A first word longer than half the room (a pasted address, a card number) is cut
       where the room ends instead: the subject still says something of the story.

    Never longer than ``limit`` (and so than the subject field, which is longer).
    """
    limit = min(limit, Complaint._meta.get_field("subject").max_length)
    first_line = next((line for line in description.splitlines() if line.strip()), "")
    line = " ".join(first_line.split())
    if len(line) <= limit:
        return line
    room = limit - len(ELLIPSIS)
    cut = line[:room]
    if line[room] != " ":  # the room ends inside a word: go back to where it began
        boundary = cut.rfind(" ")
        if boundary >= room // 2:
            cut = cut[:boundary]
    # No dangling punctuation before the ellipsis ("refund,…").
    return (cut.rstrip(" ,;:.-\u2013\u2014") or cut) + ELLIPSIS


def request_fingerprint(body: dict) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def complaint_submit(
    *,
    actor,
    intake: ComplaintIntake,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> tuple[Complaint, bool]:
    """Take a complaint in; returns ``(complaint, created)``.

    1. Allocate the reference (one statement, its own transaction), unless the request's
       ``idempotency_key`` is known: then, with the same request, return the first
       complaint (``created`` is False); with a different request it is a ``Conflict``.
    2. In one transaction: find or create the customer (a provisional one when an unproven
       address belongs to an existing customer, ``recovery.services.address_proof``), route
       the complaint to its team (``recovery.services.routing``), create the complaint, its
       original message, the ``received`` and ``routed`` timeline events and outbox rows,
       and the idempotency record.
    3. Two concurrent requests with one key: the second insert of the key waits for the
       first commit and fails on the unique constraint; it then answers as in step 1.
    """
    received_at = intake.received_at or timezone.now()
    reference = None
    if idempotency_key:
        reference = allocate_reference_unless(
            received_at, IdempotencyKey.objects.filter(owner=actor, key=idempotency_key)
        )
        if reference is None:
            replay = _replay(actor, idempotency_key, request_hash)
            if replay is not None:
                return replay, False
    reference = reference or allocate_reference(received_at)
    try:
        with transaction.atomic():
            complaint = _create(actor, intake, reference, received_at)
            if idempotency_key:
                _IDEMPOTENCY_KEYS.create(
                    key=idempotency_key,
                    owner=actor,
                    request_hash=request_hash,
                    complaint=complaint,
                )
    except IntegrityError:
        if idempotency_key:
            replay = _replay(actor, idempotency_key, request_hash)
            if replay is not None:
                return replay, False
        raise
    return complaint, True


def complaint_submitted_before(*, actor, idempotency_key: str, request_hash: str):
    """The complaint an earlier request with this key filed, or None if none did.

    A request that repeats it (a refresh, back and resend) files nothing new: the portal
    shows it the first confirmation without counting it against the form's rate limit. The
    same key with a different request is a ``Conflict``, as in ``complaint_submit``.
    """
    return _replay(actor, idempotency_key, request_hash)


def _replay(actor, key: str, request_hash: str) -> Complaint | None:
    record = IdempotencyKey.objects.select_related("complaint").filter(owner=actor, key=key).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for a different request "
            f"(complaint {record.complaint.reference}). Use a new key for a new complaint.",
            details={"complaint": record.complaint.reference},
        )
    return record.complaint


def _create(actor, intake: ComplaintIntake, reference: str, received_at) -> Complaint:
    # A complaint that names no regime is under the installation's default one.
    profile = intake.regulatory_profile or settings.REDRESS_REGULATORY_PROFILE
    jurisdiction = intake.jurisdiction or settings.REDRESS_JURISDICTION
    regulation.check_codes(
        profile=profile,
        jurisdiction=jurisdiction,
        received_at=received_at,
        sent_to_company_at=intake.sent_to_company_at,
    )
    staff = roles.is_staff_member(actor)
    customer, customer_match = _customer_for(
        actor, intake.customer, staff=staff, address_proven=intake.address_proven
    )
    category = _lookup(Category, intake.category, "category")
    route = routing.route(
        facts=routing.Facts(
            channel=intake.channel,
            category=category.slug if category else "",
            product=intake.product,
            text=f"{intake.subject}\n{intake.description}",
            regulatory_profile=profile,
            segment=customer.segment,
        ),
        team=_team_asked_for(intake, staff=staff),
        category_team=category.default_team if category else None,
    )
    complaint = Complaint(
        reference=reference,
        customer=customer,
        customer_match=customer_match,
        channel=intake.channel,
        touchpoint=_lookup(Touchpoint, intake.touchpoint, "touchpoint"),
        journey_stage=_lookup(JourneyStage, intake.journey_stage, "journey_stage"),
        category=category,
        product=intake.product,
        severity=intake.severity or Complaint._meta.get_field("severity").default,
        priority=intake.priority or Complaint._meta.get_field("priority").default,
        subject=intake.subject,
        description=intake.description,
        remedy_sought=intake.remedy_sought,
        occurred_on=intake.occurred_on,
        jurisdiction=jurisdiction,
        regulatory_profile=profile,
        team=route.team,
        received_at=received_at,
        sent_to_company_at=intake.sent_to_company_at,
    )
    # Its first deadlines and urgency are written with the row: no UPDATE of it follows.
    planned = clocks.received_clocks(complaint)
    _COMPLAINTS.insert(complaint)
    original = _MESSAGES.create(
        complaint=complaint,
        direction=MessageDirection.INBOUND,
        kind=MessageKind.ORIGINAL,
        channel=intake.channel,
        author=actor if not staff else None,
        body=intake.description,
        created_at=received_at,
    )
    timeline = events.complaint_received(
        complaint, actor, route.parameters(), receipt=intake.receipt
    )
    started = clocks.on_received(complaint, planned=planned)
    # The answer to this intake shows them (``selectors.complaint_just_filed``): kept, so
    # that they are not read back.
    complaint.written_at_intake = WrittenAtIntake(
        events=timeline, messages=[original], clocks=started
    )
    return complaint


def _customer_for(
    actor, details: CustomerDetails | None, *, staff: bool, address_proven: bool
) -> tuple[Customer, Customer | None]:
    """(the complaint's customer, the existing customer it may turn out to be, or None)."""
    if not staff:
        customer = getattr(actor, "customer", None)
        if customer is None:
            raise PermissionDenied("Only staff or a registered customer may submit complaints.")
        return customer, None
    if details is None:
        raise ValidationFailed(
            "Staff must say who the customer is.",
            details={"customer": ["This field is required when staff submit a complaint."]},
        )
    if not address_proven:
        # An id typed by the filer proves nothing either: only the address is looked up.
        owner = _customer_by_email(details.email) if details.email else None
        if owner is not None:
            fields = {**_customer_fields(details), "external_id": "", "provisional": True}
            return _CUSTOMERS.create(**fields), owner
        details = replace(details, external_id="")
    if details.external_id:
        customer = Customer.objects.filter(external_id=details.external_id).first()
        if customer is not None:
            return customer, None
    if details.email:
        customer = _customer_by_email(details.email)
        if customer is not None:
            return customer, None
        try:
            with transaction.atomic():
                return _CUSTOMERS.create(**_customer_fields(details)), None
        except IntegrityError:
            # Another intake created this customer a moment ago: use theirs, provisionally
            # when the address is not proven.
            customer = _customer_by_email(details.email)
            if customer is None:
                raise
            if not address_proven:
                fields = {**_customer_fields(details), "provisional": True}
                return _CUSTOMERS.create(**fields), customer
            return customer, None
    return _CUSTOMERS.create(**_customer_fields(details)), None


def _customer_by_email(email: str) -> Customer | None:
    found = _CUSTOMER_BY_EMAIL.run(email=email)
    return found[0] if found else None


# Written as lower(email) = lower(%s) so that it uses the customer_email_unique_ci index;
# email__iexact compiles to UPPER(...) and scans the table. The index is partial (real
# customers only), so the query repeats its condition: provisional records never match.
# Compiled once per process: building it cost an intake more than running it.
_CUSTOMER_BY_EMAIL = CompiledQuery(
    lambda email: (
        Customer.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=Lower(Value(email)))
        .exclude(email="")
        .filter(provisional=False)
        .order_by("pk")[:1]
    ),
    email=str,
)


def _customer_fields(details: CustomerDetails) -> dict:
    return {
        "name": details.name,
        "email": details.email,
        "phone": details.phone,
        "external_id": details.external_id,
        "preferred_language": details.preferred_language,
    }


def _lookup(model, slug: str, field_name: str):
    if not slug:
        return None
    found = _active_by_slug(model).get(slug)
    if found is None:
        raise ValidationFailed(
            f"Unknown {field_name} {slug!r}.",
            details={field_name: [f"No active {field_name} with slug {slug!r}."]},
        )
    return found


def _active_by_slug(model) -> dict:
    """A taxonomy's active entries by slug, read once per process until one changes."""
    return configuration.cached(
        f"active-by-slug:{model._meta.label_lower}",
        lambda: (
            {
                entry.slug: entry
                for entry in model.objects.filter(is_active=True).select_related("default_team")
            }
            if model is Category
            else {entry.slug: entry for entry in model.objects.filter(is_active=True)}
        ),
    )


def _team_asked_for(intake: ComplaintIntake, *, staff: bool) -> Team | None:
    """The team the caller named, which routing keeps; None when they named none."""
    if not intake.team:
        return None
    if not staff:
        raise PermissionDenied("Only staff may route a complaint to a team.")
    team = configuration.cached(
        "teams-by-slug", lambda: {team.slug: team for team in Team.objects.all()}
    ).get(intake.team)
    if team is None:
        raise ValidationFailed(
            f"Unknown team {intake.team!r}.",
            details={"team": [f"No team with slug {intake.team!r}."]},
        )
    return team
