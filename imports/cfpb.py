"""Import the CFPB Consumer Complaint Database export (CSV) as complaint history.

The CFPB publishes each complaint it sent to a company as one CSV row of 18 columns. Imported,
they give the root-cause insights real patterns to learn from. docs/import-cfpb.md says how
each column maps.

How a run goes:
1. Each file is streamed through the csv module (a narrative holds newlines inside a quoted
   field, so a record is not a line); only one batch of rows is in memory at a time.
2. A row that cannot be read (wrong number of fields, no id, a date that does not parse, an
   unknown channel or company response, ...) is reported with its file and line and skipped.
3. For each batch of good rows:
   a. rows whose (source, external id) is already in the database are counted and left
      alone, which makes a second run create nothing;
   b. the categories and root-cause codes the rows need are created (a transaction of
      their own: a taxonomy node without complaints is harmless);
   c. references are numbered with one UPDATE per year of receipt;
   d. each complaint is routed to a team as intake routes one (``recovery.services.routing``,
      rules read once per batch);
   e. customers, complaints, root-cause links, timeline events and recovery actions are
      written with one INSERT per table, in one transaction.
4. A batch the database refuses is retried row by row, so the one row it rejects is reported
   and skipped instead of taking the whole batch with it.
"""

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from common import bulk_writes
from escalation import regulatory
from imports.cfpb_taxonomy import Taxonomy, cause_path
from recovery.models import (
    Category,
    Channel,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Customer,
    EventType,
    Outcome,
    RecoveryAction,
    RecoveryStatus,
    RecoveryType,
    State,
)
from recovery.services import routing
from recovery.services.references import allocate_reference_block

SOURCE = "cfpb"
# Rows per transaction. At 500 a batch costs about ten statements whose round trips no
# longer matter, its jsonb documents stay well under a few MB, and a batch the database
# refuses is quick to retry row by row.
BATCH_SIZE = 500
# Rows between two progress reports: a few a second at the speed rows are written.
PROGRESS_EVERY = 250
# The regulator whose rules applied to these complaints (escalation.regulatory.PROFILES).
REGULATORY_PROFILE = "us_cfpb"
JURISDICTION = "US"

# The export's header names, by what the import calls them.
COLUMNS = {
    "received": "Date received",
    "product": "Product",
    "sub_product": "Sub-product",
    "issue": "Issue",
    "sub_issue": "Sub-issue",
    "narrative": "Consumer complaint narrative",
    "public_response": "Company public response",
    "company": "Company",
    "state": "State",
    "zip_code": "ZIP code",
    "tags": "Tags",
    "consent": "Consumer consent provided?",
    "submitted_via": "Submitted via",
    "sent": "Date sent to company",
    "response": "Company response to consumer",
    "timely": "Timely response?",
    "disputed": "Consumer disputed?",
    "complaint_id": "Complaint ID",
}

# "Submitted via", lower-cased. Redress has no "referral" or "fax" channel: a referral is a
# complaint another agency (or a member of Congress) forwarded to the CFPB in writing, and a
# fax is a letter by wire, so both count as letters. The CFPB's own value is kept in
# source_data["submitted_via"], so a report can still tell them apart.
CHANNELS = {
    "web": Channel.WEB,
    # Newer exports: a referral that reached the CFPB through its web form.
    "web referral": Channel.WEB,
    "phone": Channel.PHONE,
    "email": Channel.EMAIL,
    "postal mail": Channel.LETTER,
    "fax": Channel.LETTER,
    "referral": Channel.LETTER,
}


@dataclass(frozen=True)
class CompanyResponse:
    """What a "Company response to consumer" value means for the complaint."""

    state: str
    outcome: str = ""
    recovery_type: str = ""


# Closed responses resolve the complaint; the CFPB publishes no amount, so a monetary relief
# is a refund without an amount. "Closed" and "Closed without relief" (values of the
# CFPB's first years) say nothing was given and not even that the company explained: no
# recovery action, rather than one the company may never have made. "Closed with relief"
# (also early) does not say which relief: "other". "Untimely response" means the company
# did not answer within the CFPB's 15 days: it is still the company's to answer, so the
# complaint stays open, like "In progress".
RESPONSES = {
    "closed with monetary relief": CompanyResponse(
        State.RESOLVED, Outcome.UPHELD, RecoveryType.REFUND
    ),
    "closed with non-monetary relief": CompanyResponse(
        State.RESOLVED, Outcome.PARTLY_UPHELD, RecoveryType.FIX
    ),
    "closed with relief": CompanyResponse(State.RESOLVED, Outcome.UPHELD, RecoveryType.OTHER),
    "closed with explanation": CompanyResponse(
        State.RESOLVED, Outcome.NOT_UPHELD, RecoveryType.EXPLANATION
    ),
    "closed without relief": CompanyResponse(State.RESOLVED, Outcome.NOT_UPHELD),
    "closed": CompanyResponse(State.RESOLVED, Outcome.NOT_UPHELD),
    "in progress": CompanyResponse(State.ACKNOWLEDGED),
    "untimely response": CompanyResponse(State.ACKNOWLEDGED),
}

# The CFPB publishes dates without a time. Noon UTC is the same calendar date in every time
# zone from UTC-12 to UTC+11, so a date never moves to the day before or after when shown.
NOON = time(12)

YES_NO = {"yes": True, "no": False}
US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
COMPLAINT_ID = re.compile(r"^[0-9]{1,20}$")


class BadRow(ValueError):
    """A row the import cannot use; its message says which column and why."""


@dataclass(frozen=True)
class Problem:
    """A row (or file) skipped, and why: printed as ``path:line: message``.

    ``line`` is the first line of the record; 0 when the file as a whole could not be read.
    """

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        if not self.line:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class FileSummary:
    path: str
    read: int = 0
    created: int = 0
    already_present: int = 0
    skipped: int = 0


@dataclass
class ImportSummary:
    files: list[FileSummary] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def created(self) -> int:
        return sum(f.created for f in self.files)

    @property
    def already_present(self) -> int:
        return sum(f.already_present for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)


@dataclass(frozen=True)
class Row:
    """One CFPB complaint, read and checked, ready to write."""

    line: int
    complaint_id: str
    received_on: date
    sent_on: date | None
    product: str
    sub_product: str
    issue: str
    sub_issue: str
    narrative: str
    channel: str
    response: CompanyResponse
    response_label: str
    segment: str
    source_data: dict

    @property
    def received_at(self) -> datetime:
        return datetime.combine(self.received_on, NOON, tzinfo=UTC)

    @property
    def sent_at(self) -> datetime | None:
        if self.sent_on is None:
            return None
        return datetime.combine(self.sent_on, NOON, tzinfo=UTC)

    @property
    def cause_code(self) -> str:
        return cause_path(self.product, self.issue, self.sub_issue)[-1][0]


Report = Callable[[Problem], None]
Progress = Callable[[str, int, int], None]


def _ignore(*args) -> None:
    """Report and progress for callers who want neither (``seed_demo``)."""


# -- reading -------------------------------------------------------------------------------


def import_files(
    paths: Iterable[str | Path],
    *,
    batch_size: int = BATCH_SIZE,
    report: Report | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import CFPB export files in order; a row already imported (by id) is left as it is.

    ``report`` is called with each skipped row's ``Problem``; ``progress`` with the file, the
    bytes read and the file's size.
    """
    report, progress = report or _ignore, progress or _ignore
    summary = ImportSummary()
    taxonomy = Taxonomy()
    for path in paths:
        summary.files.append(
            _import_file(
                Path(path),
                batch_size=batch_size,
                report=report,
                progress=progress,
                taxonomy=taxonomy,
            )
        )
    return summary


def _import_file(
    path: Path, *, batch_size: int, report: Report, progress: Progress, taxonomy: Taxonomy
) -> FileSummary:
    name = str(path)
    counts = FileSummary(path=name)
    try:
        total = path.stat().st_size
        raw = path.open("rb")
    except OSError as error:
        report(Problem(name, 0, f"cannot be read: {error.strerror or error}"))
        return counts
    with raw:
        progress(name, 0, total)
        # utf-8-sig drops a byte-order mark; an undecodable byte becomes U+FFFD rather than
        # ending the stream. newline="" as the csv module requires for quoted newlines.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        records = _records(text)
        header = next(records, None)
        if header is None or isinstance(header[1], csv.Error):
            report(Problem(name, 1, "no header row: not a CFPB export"))
            return counts
        try:
            layout = Layout.from_header(header[1])
        except BadRow as error:
            report(Problem(name, 1, str(error)))
            return counts
        batch: list[Row] = []
        for line, values in records:
            counts.read += 1
            try:
                if isinstance(values, csv.Error):
                    raise BadRow(f"not valid CSV: {values}")
                batch.append(parse_row(values, layout, line))
            except BadRow as error:
                counts.skipped += 1
                report(Problem(name, line, str(error)))
                continue
            if len(batch) >= batch_size:
                _import_batch(batch, name=name, counts=counts, report=report, taxonomy=taxonomy)
                batch = []
            if counts.read % PROGRESS_EVERY == 0:
                # The position the decoder has read up to: close enough for a progress bar.
                progress(name, raw.tell(), total)
        if batch:
            _import_batch(batch, name=name, counts=counts, report=report, taxonomy=taxonomy)
        progress(name, total, total)
    return counts


def _records(text: io.TextIOBase) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(first line of the record, its fields or the csv error), blank lines left out."""
    reader = csv.reader(text)
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The reader starts afresh on the next line, so one broken record costs one.
            yield line, error
            continue
        if values:
            yield line, values


@dataclass(frozen=True)
class Layout:
    """Where each column is in a file, from its header, and how many fields a row has."""

    positions: dict[str, int]
    width: int

    @classmethod
    def from_header(cls, header: list[str]) -> "Layout":
        names = [name.strip() for name in header]
        missing = [title for title in COLUMNS.values() if title not in names]
        if missing:
            raise BadRow(f"not a CFPB export: no column {', '.join(map(repr, missing))}")
        return cls({key: names.index(title) for key, title in COLUMNS.items()}, len(names))


def parse_row(values: list[str], layout: Layout, line: int) -> Row:
    """Check and map one record; ``BadRow`` says what is wrong with it."""
    if len(values) != layout.width:
        raise BadRow(f"expected {layout.width} fields, found {len(values)}")
    cell = {key: _clean(values[index]) for key, index in layout.positions.items()}

    complaint_id = cell["complaint_id"]
    if not complaint_id:
        raise BadRow("no Complaint ID")
    if not COMPLAINT_ID.match(complaint_id):
        raise BadRow(f"Complaint ID {complaint_id!r} is not a number")
    received_on = _date(cell["received"], COLUMNS["received"], required=True)
    sent_on = _date(cell["sent"], COLUMNS["sent"], required=False)
    if sent_on is not None and sent_on < received_on:
        raise BadRow(f"Date sent to company {sent_on} is before Date received {received_on}")
    for key in ("product", "issue"):
        if not cell[key]:
            raise BadRow(f"no {COLUMNS[key]}: the complaint has no place in the taxonomy")
    channel = CHANNELS.get(cell["submitted_via"].lower())
    if channel is None:
        raise BadRow(f"unknown Submitted via {cell['submitted_via']!r}")
    response = RESPONSES.get(cell["response"].lower())
    if response is None:
        raise BadRow(f"unknown Company response to consumer {cell['response']!r}")
    if response.state == State.ACKNOWLEDGED and sent_on is None:
        # Open, and not yet sent to the company: nobody has acknowledged it.
        response = CompanyResponse(State.RECEIVED)

    tags = [tag.strip() for tag in cell["tags"].split(",") if tag.strip()]
    source_data = {
        "company": cell["company"],
        "state": cell["state"],
        "zip_code": cell["zip_code"],
        "tags": tags,
        "submitted_via": cell["submitted_via"],
        "company_response": cell["response"],
        "company_public_response": cell["public_response"],
        "timely_response": YES_NO.get(cell["timely"].lower()),
        # "N/A" since 2017, when the CFPB stopped asking.
        "consumer_disputed": YES_NO.get(cell["disputed"].lower()),
        "consumer_consent": cell["consent"],
    }
    return Row(
        line=line,
        complaint_id=complaint_id,
        received_on=received_on,
        sent_on=sent_on,
        product=cell["product"],
        sub_product=cell["sub_product"],
        issue=cell["issue"],
        sub_issue=cell["sub_issue"],
        narrative=cell["narrative"],
        channel=channel,
        response=response,
        response_label=cell["response"],
        # "Older American, Servicemember": who the consumer is, as the SLA policies' segment.
        segment=", ".join(tags)[: Customer._meta.get_field("segment").max_length],
        source_data={
            key: value for key, value in source_data.items() if value not in ("", [], None)
        },
    )


def _clean(value: str) -> str:
    # PostgreSQL refuses NUL in text; the CFPB never means one.
    return value.replace("\x00", "").strip()


def _date(value: str, column: str, *, required: bool) -> date | None:
    if not value:
        if required:
            raise BadRow(f"no {column}")
        return None
    try:
        us_date = US_DATE.match(value)
        if us_date:
            # Older exports wrote dates as MM/DD/YYYY.
            month, day, year = map(int, us_date.groups())
            return date(year, month, day)
        return date.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


# -- writing -------------------------------------------------------------------------------


def _import_batch(
    rows: list[Row], *, name: str, counts: FileSummary, report: Report, taxonomy: Taxonomy
) -> None:
    fresh = _not_yet_imported(rows, counts)
    if not fresh:
        return
    try:
        taxonomy.ensure((row.product, row.issue, row.sub_issue) for row in fresh)
        _write(fresh, taxonomy)
    except (IntegrityError, DataError) as error:
        # What one row can cause: a broken constraint, a value the column refuses. Anything
        # else (a lost connection, say) ends the import: retrying each row would not help.
        if len(fresh) > 1:
            # Find the row the database refuses (or that a concurrent import wrote first):
            # one at a time, each in its own transaction.
            for row in fresh:
                _import_batch([row], name=name, counts=counts, report=report, taxonomy=taxonomy)
            return
        counts.skipped += 1
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        report(Problem(name, fresh[0].line, f"refused by the database: {reason}"))
        return
    counts.created += len(fresh)


def _not_yet_imported(rows: list[Row], counts: FileSummary) -> list[Row]:
    """The rows of ``rows`` not imported before (nor earlier in the batch)."""
    ids = [row.complaint_id for row in rows]
    present = set(
        # Written with external_id <> '' so that the planner can use the partial unique
        # index complaint_source_external_id_unique.
        Complaint.objects.filter(source=SOURCE, external_id__in=ids)
        .exclude(external_id="")
        .values_list("external_id", flat=True)
    )
    fresh = []
    for row in rows:
        if row.complaint_id in present:
            counts.already_present += 1
        else:
            present.add(row.complaint_id)
            fresh.append(row)
    return fresh


def _references(rows: list[Row]) -> list[str]:
    """A reference per row, numbered within its year of receipt: one UPDATE per year."""
    by_year: dict[int, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_year[row.received_on.year].append(index)
    references = [""] * len(rows)
    for year, indexes in by_year.items():
        block = allocate_reference_block(year=year, count=len(indexes))
        for index, reference in zip(indexes, block, strict=True):
            references[index] = reference
    return references


def _write(rows: list[Row], taxonomy: Taxonomy) -> None:
    references = _references(rows)
    now = timezone.now()
    with transaction.atomic():
        customers = _customers(rows, now)
        unsaved = [
            _complaint(row, reference, customers[row.complaint_id], taxonomy, now)
            for row, reference in zip(rows, references, strict=True)
        ]
        routes = _route(unsaved)
        for complaint, route in zip(unsaved, routes, strict=True):
            complaint.team = route.team
        complaints = bulk_writes.insert_many(Complaint, unsaved)
        bulk_writes.insert_many(
            ComplaintRootCause,
            [
                ComplaintRootCause(
                    complaint=complaint,
                    root_cause_id=taxonomy.root_causes[row.cause_code],
                    is_primary=True,
                    created_at=now,
                )
                for row, complaint in zip(rows, complaints, strict=True)
            ],
        )
        # Timeline rows are written here directly, not through recovery.events: those also
        # write outbox rows, and history that happened years ago elsewhere must not notify
        # anyone, feed the websockets or send email. No SLA clocks are started either.
        bulk_writes.insert_many(
            ComplaintEvent,
            [
                event
                for row, complaint, route in zip(rows, complaints, routes, strict=True)
                for event in _events(row, complaint, route)
            ],
        )
        actions = [
            _recovery_action(row, complaint)
            for row, complaint in zip(rows, complaints, strict=True)
            if row.response.recovery_type
        ]
        if actions:
            bulk_writes.insert_many(RecoveryAction, actions)


def _route(complaints: list[Complaint]) -> list[routing.Route]:
    """Each complaint's team, as intake would choose it; rules and teams read once."""
    rules = routing.active_rules()
    categories = {
        category.pk: category
        for category in Category.objects.filter(
            pk__in={complaint.category_id for complaint in complaints}
        ).select_related("default_team")
    }
    triage = None
    routes = []
    for complaint in complaints:
        category = categories.get(complaint.category_id)
        facts = routing.Facts(
            channel=complaint.channel,
            category=category.slug if category else "",
            product=complaint.product,
            text=f"{complaint.subject}\n{complaint.description}",
            regulatory_profile=complaint.regulatory_profile,
            segment=complaint.customer.segment,
        )
        found = routing.route(
            facts=facts,
            category_team=category.default_team if category else None,
            rules=rules,
            triage=triage,
        )
        if found.how == routing.How.DEFAULT:
            triage = found.team
        routes.append(found)
    return routes


def _customers(rows: list[Row], now: datetime) -> dict[str, Customer]:
    """One anonymous customer per complaint (the CFPB identifies nobody), by complaint id."""
    external_ids = {f"{SOURCE}-{row.complaint_id}": row for row in rows}
    # A customer left by an earlier import whose complaint was since removed is reused.
    existing = (
        Customer.objects.filter(external_id__in=list(external_ids))
        .exclude(external_id="")
        .only("pk", "external_id", "segment")
    )
    customers = {customer.external_id: customer for customer in existing}
    new = [
        Customer(
            name=f"Anonymous consumer (CFPB {row.complaint_id})",
            external_id=external_id,
            segment=row.segment,
            created_at=now,
        )
        for external_id, row in external_ids.items()
        if external_id not in customers
    ]
    if new:
        bulk_writes.insert_many(Customer, new)
        customers.update((customer.external_id, customer) for customer in new)
    return {row.complaint_id: customers[key] for key, row in external_ids.items()}


def _complaint(
    row: Row, reference: str, customer: Customer, taxonomy: Taxonomy, now: datetime
) -> Complaint:
    subject_length = Complaint._meta.get_field("subject").max_length
    product_length = Complaint._meta.get_field("product").max_length
    resolved = row.response.state == State.RESOLVED
    return Complaint(
        reference=reference,
        customer=customer,
        channel=row.channel,
        category_id=taxonomy.categories[row.product],
        product=(row.sub_product or row.product)[:product_length],
        subject=row.issue[:subject_length],
        description=row.narrative or _summary_without_narrative(row),
        jurisdiction=_jurisdiction(row.source_data.get("state", "")),
        regulatory_profile=REGULATORY_PROFILE,
        state=row.response.state,
        outcome=row.response.outcome,
        resolution_summary=_resolution_summary(row) if resolved else "",
        source=SOURCE,
        external_id=row.complaint_id,
        source_data=row.source_data,
        received_at=row.received_at,
        # The CFPB's clocks count from the day it sent the complaint to the company; that
        # is also the first date the company is known to have had it.
        sent_to_company_at=row.sent_at,
        acknowledged_at=row.sent_at,
        # The CFPB publishes no date of the company's answer: left empty rather than made
        # up, so time-to-resolve figures leave imported complaints out.
        resolved_at=None,
        created_at=now,
        updated_at=now,
    )


def _jurisdiction(state: str) -> str:
    """``US-CA`` for a state the holiday tables know, else ``US`` (territories, blanks)."""
    code = f"{JURISDICTION}-{state.strip().upper()}"
    return code if state.strip() and regulatory.is_known_jurisdiction(code) else JURISDICTION


def _summary_without_narrative(row: Row) -> str:
    lines = [f"Product: {row.product}"]
    if row.sub_product:
        lines.append(f"Sub-product: {row.sub_product}")
    lines.append(f"Issue: {row.issue}")
    if row.sub_issue:
        lines.append(f"Sub-issue: {row.sub_issue}")
    lines.append("The consumer's own account was not published.")
    return "\n".join(lines)


def _resolution_summary(row: Row) -> str:
    summary = f"Company response to the CFPB: {row.response_label}."
    public = row.source_data.get("company_public_response")
    if public:
        summary += f"\nCompany public response: {public}"
    return summary


def _imported(row: Row, **extra) -> dict:
    return {"source": SOURCE, "external_id": row.complaint_id, **extra}


def _events(row: Row, complaint: Complaint, route: routing.Route) -> list[ComplaintEvent]:
    events = [
        ComplaintEvent(
            complaint=complaint,
            type=EventType.RECEIVED,
            parameters={"channel": row.channel, "imported": _imported(row)},
            created_at=row.received_at,
        ),
        ComplaintEvent(
            complaint=complaint,
            type=EventType.ROUTED,
            parameters={**route.parameters(), "imported": _imported(row)},
            created_at=row.received_at,
        ),
    ]
    if row.response.state == State.RESOLVED:
        events.append(
            ComplaintEvent(
                complaint=complaint,
                type=EventType.RESOLVED,
                parameters={
                    "outcome": row.response.outcome,
                    "summary": complaint.resolution_summary,
                    "root_causes": [row.cause_code],
                    # Dated the last day the CFPB gives (sent to the company): the day the
                    # company answered is not published.
                    "imported": _imported(
                        row, company_response=row.response_label, date_published=False
                    ),
                },
                created_at=row.sent_at or row.received_at,
            )
        )
    return events


def _recovery_action(row: Row, complaint: Complaint) -> RecoveryAction:
    return RecoveryAction(
        complaint=complaint,
        type=row.response.recovery_type,
        # The CFPB publishes no amounts, not even for monetary relief.
        amount=None,
        currency="",
        description=f"Company response to the CFPB: {row.response_label}.",
        status=RecoveryStatus.DELIVERED,
        proposed_at=row.sent_at or row.received_at,
        suggested=None,
    )
