"""Reads of the notifications app that pages show: held inbound email, for its review, and
customer emails that did not arrive."""

import base64
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery, TextField, Value
from django.db.models.functions import JSONObject
from django.utils.dateparse import parse_datetime

from common.compiled_queries import CompiledQuery, count_row
from common.json_rows import instance
from notifications import ingest
from notifications.inbound_parsing import UnparseableEmail, parse_message
from notifications.models import (
    EmailDelivery,
    EmailStatus,
    InboundAttachment,
    InboundEmail,
    InboundStatus,
)
from recovery import access, rules
from recovery.models import Complaint

# What the complaint page shows of a held email's text: enough to judge it by; the whole
# message stays in the admin (Inbound emails).
HELD_TEXT_MAX_CHARS = 5000


@dataclass(frozen=True)
class HeldEmail:
    id: int
    sender: str
    sender_name: str
    subject: str
    received_at: datetime
    reason: str
    text: str
    authentication: dict
    attachments: list[str]  # file names
    status: str = InboundStatus.HELD
    complaint_reference: str = ""  # the complaint it claims (held mail only)
    # Whether it can be opened as a new complaint: it parsed and has a sender to answer.
    can_open: bool = True


# The review queue (desk: Held mail) shows the oldest first, this many of each kind a page:
# a screenful, each with its preview; the counts above say how many wait in all.
REVIEW_QUEUE_SIZE = 50


@dataclass(frozen=True)
class ReviewQueue:
    held: list[HeldEmail]
    held_total: int
    quarantined: list[HeldEmail]
    quarantined_total: int
    sees_quarantined: bool


def _held_for(user):
    """The held mail ``user`` may review: held on a complaint they may work (one query,
    the policy's own subquery, so the rule is recovery.access's and nobody else's)."""
    return InboundEmail.objects.filter(
        status=InboundStatus.HELD, held_complaint_id__in=_workable_ids(user)
    )


def _quarantined_for(user):
    if not rules.may_review_unattributed_mail(user):
        return InboundEmail.objects.none()
    return InboundEmail.objects.filter(status=InboundStatus.QUARANTINED)


def review_count(user) -> int:
    """How many emails wait for ``user``'s review: the desk navigation's count, one query on
    every desk page (each part served by its partial index, OR-ed by PostgreSQL)."""
    if connection.vendor != "postgresql":
        return _waiting_for(user).count()
    scope, parameter = access.workable_scope(user)
    unattributed = rules.may_review_unattributed_mail(user)
    if scope == access.NOTHING and not unattributed:
        return 0
    values = {} if parameter is None else {"user_id": parameter}
    return _review_count(scope, unattributed).run(**values)[0]["n"]


# The navigation's count, compiled once per process for each shape it takes (the scope the
# user works through, and whether quarantined mail is theirs to review): Django built its
# subqueries on every desk page, a tenth of a queue page's CPU.
_REVIEW_COUNTS: dict[tuple[str, bool], CompiledQuery] = {}


def _review_count(scope: str, unattributed: bool) -> CompiledQuery:
    compiled = _REVIEW_COUNTS.get((scope, unattributed))
    if compiled is None:

        def build(user_id=None):
            workable = access.complaints_in_scope(scope, user_id).values("pk")
            waiting = _waiting(workable, unattributed)
            return count_row(InboundEmail.objects.filter(waiting))

        parameters = {"user_id": int} if scope == access.STAFF else {}
        compiled = _REVIEW_COUNTS[scope, unattributed] = CompiledQuery(build, **parameters)
    return compiled


def review_count_query(user) -> Subquery:
    """``review_count`` as a subquery, for a page's own query to bring along."""
    return Subquery(
        count_row(_waiting_for(user))[:1],
        output_field=IntegerField(),
    )


def _waiting_for(user):
    waiting = _waiting(_workable_ids(user), rules.may_review_unattributed_mail(user))
    return InboundEmail.objects.filter(waiting)


def _waiting(workable_ids, unattributed: bool) -> Q:
    waiting = Q(status=InboundStatus.HELD, held_complaint_id__in=workable_ids)
    if unattributed:
        waiting |= Q(status=InboundStatus.QUARANTINED)
    return waiting


def _workable_ids(user):
    return access.complaints_workable_by(user).values("pk")


def review_queue(user) -> ReviewQueue:
    """The emails waiting for ``user``'s review, held then quarantined, oldest first."""
    held_rows = list(
        _held_for(user)
        .prefetch_related("attachments")
        .order_by("received_at", "id")[:REVIEW_QUEUE_SIZE]
    )
    references = dict(
        Complaint.objects.filter(pk__in={row.held_complaint_id for row in held_rows}).values_list(
            "pk", "reference"
        )
    )
    quarantined_rows = list(
        _quarantined_for(user)
        .prefetch_related("attachments")
        .order_by("received_at", "id")[:REVIEW_QUEUE_SIZE]
    )
    return ReviewQueue(
        held=[_held(row, references.get(row.held_complaint_id, "")) for row in held_rows],
        held_total=_held_for(user).count(),
        quarantined=[_held(row) for row in quarantined_rows],
        quarantined_total=_quarantined_for(user).count(),
        sees_quarantined=rules.may_review_unattributed_mail(user),
    )


def may_open_review_queue(user) -> bool:
    """Whoever works complaints has a review queue (empty when nothing of theirs waits)."""
    return rules.is_working_staff(user) or rules.sees_every_complaint(user)


def may_review(user, inbound_id: int) -> bool:
    """Whether ``user`` may decide on inbound email ``inbound_id`` (reviewed since or not):
    held mail by whoever may work the complaint it claims, the rest by supervisors and up."""
    held_on = (
        InboundEmail.objects.filter(pk=inbound_id).values_list("held_complaint_id", flat=True)
    ).first()
    if held_on is not None:
        return access.complaints_workable_by(user).filter(pk=held_on).exists()
    exists = InboundEmail.objects.filter(pk=inbound_id).exists()
    return exists and rules.may_review_unattributed_mail(user)


def held_emails(complaint_id: int, brought: list | None = None) -> list[HeldEmail]:
    """The emails held on a complaint and not reviewed yet, oldest first (two queries, or
    none when ``brought``: the rows of ``held_emails_annotation``)."""
    if brought is not None:
        return [_held(_held_row(row)) for row in brought]
    rows = list(
        InboundEmail.objects.filter(status=InboundStatus.HELD, held_complaint_id=complaint_id)
        .prefetch_related("attachments")
        .order_by("received_at", "id")
    )
    return [_held(row) for row in rows]


# What ``_held`` reads of a held email.
_HELD_COLUMNS = ("id", "sender", "subject", "received_at", "reason", "authentication", "status")


def held_emails_annotation() -> dict:
    """For a complaint read's ``annotate()`` on PostgreSQL: the emails held on it, as
    ``held_emails`` reads them (their bytes as base64, their attachments' names), as one
    JSON array in that read's row. Empty elsewhere."""
    if connection.vendor != "postgresql":
        return {}
    attachments = InboundAttachment.objects.filter(email=OuterRef("pk")).order_by("id")
    rows = (
        InboundEmail.objects.filter(status=InboundStatus.HELD, held_complaint_id=OuterRef("pk"))
        .order_by("received_at", "id")
        .values(
            row=JSONObject(
                **{column: column for column in _HELD_COLUMNS},
                raw=Func(F("raw"), Value("base64"), function="encode", output_field=TextField()),
                attachments=ArraySubquery(attachments.values("filename")),
            )
        )
    )
    return {HELD_ROWS: ArraySubquery(rows)}


# The attribute of a complaint read with ``held_emails_annotation``.
HELD_ROWS = "held_email_rows"


def _held_row(row: dict) -> InboundEmail:
    inbound = instance(InboundEmail, row)
    inbound.raw = base64.b64decode(row["raw"])
    inbound.attachment_names = row["attachments"]
    return inbound


def complaint_held_on(inbound_id: int) -> int | None:
    """The id of the complaint an email was held on (reviewed since or not), or None."""
    return (
        InboundEmail.objects.filter(pk=inbound_id)
        .values_list("held_complaint_id", flat=True)
        .first()
    )


def _held(row: InboundEmail, reference: str = "") -> HeldEmail:
    raw = bytes(row.raw)
    can_open = False
    try:
        if ingest.is_cut_short(row):
            raise UnparseableEmail("over the size limit: only its head is kept")
        parsed = parse_message(raw)
    except UnparseableEmail:
        # Quarantined as unreadable (or held mail that no longer parses): the stored bytes
        # as text, which the page escapes like any other text.
        name, text = "", raw.decode("utf-8", errors="replace")
    else:
        name, text = parsed.from_name, parsed.reply_text or parsed.text
        can_open = bool(parsed.from_address)
    if len(text) > HELD_TEXT_MAX_CHARS:
        text = text[:HELD_TEXT_MAX_CHARS].rstrip() + "…"
    return HeldEmail(
        id=row.pk,
        sender=row.sender,
        sender_name=name,
        subject=row.subject,
        received_at=row.received_at,
        reason=row.reason,
        text=text,
        authentication=row.authentication,
        attachments=_attachment_names(row),
        status=row.status,
        complaint_reference=reference,
        can_open=can_open,
    )


def _attachment_names(row: InboundEmail) -> list[str]:
    names = getattr(row, "attachment_names", None)  # brought by held_emails_annotation
    if names is None:
        names = [attachment.filename for attachment in row.attachments.all()]
    return names


@dataclass(frozen=True)
class UndeliveredEmail:
    """An email to the customer that bounced, could not be sent, or waits to be tried again."""

    id: int
    message_id: int | None  # the complaint message it carried, if any
    kind: str
    kind_label: str
    recipient: str
    subject: str
    failed: bool  # False for a delay the sending server is still retrying
    permanent: bool | None  # None when it failed on our side (no bounce)
    status_code: str
    reason: str
    at: datetime | None
    regulatory_letter: bool
    # When the mail server could not take it yet and it will be tried again (not failed).
    next_attempt_at: datetime | None = None

    @property
    def resendable(self) -> bool:
        """Only a failed email is sent again; a delayed one may still arrive."""
        return self.failed

    @property
    def retrying(self) -> bool:
        return not self.failed and self.next_attempt_at is not None

    @property
    def summary(self) -> str:
        """ "Not delivered: 550 5.1.1 user unknown" - the headline the desk shows."""
        if self.failed:
            what = "Not delivered"
        elif self.retrying:
            what = "Not sent yet, retrying"
        else:
            what = "Delivery delayed"
        reason = self.reason or self.status_code
        return f"{what}: {reason}" if reason else what

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "kind": self.kind,
            "recipient": self.recipient,
            "subject": self.subject,
            "failed": self.failed,
            "permanent": self.permanent,
            "status_code": self.status_code,
            "reason": self.reason,
            "at": self.at.isoformat() if self.at else None,
            "regulatory_letter": self.regulatory_letter,
            "resendable": self.resendable,
            "retrying": self.retrying,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


def _full_text_rows(complaint_id):
    return InboundEmail.objects.filter(complaint_id=complaint_id, message_id__isnull=False).exclude(
        full_text=""
    )


def full_texts(complaint_id: int, brought: list | None = None) -> dict[int, str]:
    """{complaint message id: the whole text of its email} for the messages of a complaint
    whose email had quoted text cut (``ingest.keep_full_text``). One query, on the
    complaint_id index, or none when ``brought`` (the rows of ``full_texts_annotation``)."""
    if brought is not None:
        return {row["message_id"]: row["full_text"] for row in brought}
    return dict(_full_text_rows(complaint_id).values_list("message_id", "full_text"))


# The attribute of a complaint read with ``full_texts_annotation``.
FULL_TEXT_ROWS = "full_text_rows"


def full_texts_annotation() -> dict:
    """For a complaint read's ``annotate()`` on PostgreSQL: what ``full_texts`` reads, as
    one JSON array in that read's row. Empty elsewhere."""
    if connection.vendor != "postgresql":
        return {}
    rows = _full_text_rows(OuterRef("pk")).values(
        row=JSONObject(message_id="message_id", full_text="full_text")
    )
    return {FULL_TEXT_ROWS: ArraySubquery(rows)}


# What ``undelivered_emails`` reads of each email.
_UNDELIVERED_COLUMNS = (
    "id",
    "message_id",
    "kind",
    "recipient",
    "subject",
    "status",
    "bounce_permanent",
    "bounce_status",
    "failure_reason",
    "bounced_at",
    "sent_at",
    "created_at",
    "next_attempt_at",
)
_INSTANTS = ("bounced_at", "sent_at", "created_at", "next_attempt_at")

# The attribute of a complaint read with ``undelivered_emails_annotation``.
UNDELIVERED_ROWS = "undelivered_email_rows"


def _undelivered_rows(complaint_id):
    return (
        EmailDelivery.objects.filter(
            Q(status=EmailStatus.FAILED)
            | Q(bounced_at__isnull=False)
            | Q(status=EmailStatus.QUEUED, next_attempt_at__isnull=False),
            complaint_id=complaint_id,
            resend__isnull=True,
        )
        .order_by("created_at", "id")
        .values(*_UNDELIVERED_COLUMNS)
    )


# Compiled once per process (common.compiled_queries): where the complaint's read did not
# bring the rows along (a new complaint's answer, SQLite).
_UNDELIVERED_ROWS = CompiledQuery(_undelivered_rows, complaint_id=int)


def undelivered_emails_annotation() -> dict:
    """For a complaint read's ``annotate()`` on PostgreSQL: the rows ``undelivered_emails``
    needs, as one JSON array in that read's row, so a page or an answer that shows them
    sends no statement of its own for them. Empty elsewhere (they are read on their own)."""
    if connection.vendor != "postgresql":
        return {}
    rows = _undelivered_rows(OuterRef("pk")).values(
        row=JSONObject(**{column: column for column in _UNDELIVERED_COLUMNS})
    )
    return {UNDELIVERED_ROWS: ArraySubquery(rows)}


def undelivered_emails(complaint) -> list[UndeliveredEmail]:
    """The complaint's customer emails that bounced, failed, or wait to be tried again
    after our mail server could not take them, oldest first (one query, or none when the
    complaint was read with ``undelivered_emails_annotation``).

    An email staff resent is left out: its new attempt stands for it (and is listed in turn
    if it fails too); the timeline keeps both."""
    brought = getattr(complaint, UNDELIVERED_ROWS, None)
    if brought is None:
        rows = _UNDELIVERED_ROWS.run(complaint_id=complaint.pk)
    else:
        # JSON carries instants as ISO text.
        rows = [
            row | {name: parse_datetime(row[name]) if row[name] else None for name in _INSTANTS}
            for row in brought
        ]
    labels = dict(EmailDelivery._meta.get_field("kind").flatchoices)
    return [
        UndeliveredEmail(
            id=row["id"],
            message_id=row["message_id"],
            kind=row["kind"],
            kind_label=str(labels.get(row["kind"], row["kind"])),
            recipient=row["recipient"],
            subject=row["subject"],
            failed=row["status"] == EmailStatus.FAILED,
            permanent=row["bounce_permanent"],
            status_code=row["bounce_status"],
            reason=row["failure_reason"],
            at=row["bounced_at"] or row["sent_at"] or row["created_at"],
            regulatory_letter=rules.is_regulatory_letter(complaint, row["kind"]),
            next_attempt_at=row["next_attempt_at"] if row["status"] == EmailStatus.QUEUED else None,
        )
        for row in rows
    ]
