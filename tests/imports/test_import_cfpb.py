"""``manage.py import_cfpb``: CFPB consumer-complaint exports imported as complaint history.

The full import reads the CFPB samples kept beside the repository (``shared/data/cfpb``, or
the ``data`` folder named by ``REDRESS_SHARED_DATA``); where they are absent those tests are
skipped, saying why. Everything else writes its own small CSV files.
"""

import csv
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Case, Count, F, When

from escalation.models import Clock
from imports import cfpb_taxonomy
from notifications.models import Outbox
from recovery.models import (
    ROOT_CAUSE_CODE_VALIDATOR,
    Category,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Customer,
    RecoveryAction,
    ReferenceCounter,
    RootCause,
)
from recovery.services.references import format_reference

SHARED_DATA = Path(
    os.environ.get("REDRESS_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
CFPB_DIR = SHARED_DATA / "cfpb"
CFPB_FILES = sorted(CFPB_DIR.glob("*.csv")) if CFPB_DIR.is_dir() else []
needs_samples = pytest.mark.skipif(
    not CFPB_FILES,
    reason=f"CFPB sample files not found in {CFPB_DIR}; set REDRESS_SHARED_DATA",
)

HEADER = [
    "Date received",
    "Product",
    "Sub-product",
    "Issue",
    "Sub-issue",
    "Consumer complaint narrative",
    "Company public response",
    "Company",
    "State",
    "ZIP code",
    "Tags",
    "Consumer consent provided?",
    "Submitted via",
    "Date sent to company",
    "Company response to consumer",
    "Timely response?",
    "Consumer disputed?",
    "Complaint ID",
]

# What the import is documented to do (docs/import-cfpb.md), written out again here so
# the test does not take the answer from the code under test.
EXPECTED_CHANNEL = {
    "Web": "web",
    "Phone": "phone",
    "Email": "email",
    "Postal mail": "letter",
    "Fax": "letter",
    "Referral": "letter",
}
# Company response -> (state, outcome, recovery type or "").
EXPECTED_RESPONSE = {
    "Closed with monetary relief": ("resolved", "upheld", "refund"),
    "Closed with non-monetary relief": ("resolved", "partly_upheld", "fix"),
    "Closed with explanation": ("resolved", "not_upheld", "explanation"),
    "Closed": ("resolved", "not_upheld", ""),
    "Closed without relief": ("resolved", "not_upheld", ""),
    "In progress": ("acknowledged", "", ""),
    "Untimely response": ("acknowledged", "", ""),
}


def cfpb_row(**values: str) -> list[str]:
    """A valid export row; keyword names are the header's with spaces and '?' dropped."""
    row = {
        "Date received": "2023-08-25",
        "Product": "Mortgage",
        "Sub-product": "Conventional home mortgage",
        "Issue": "Trouble during payment process",
        "Sub-issue": "",
        "Consumer complaint narrative": "",
        "Company public response": "",
        "Company": "EXAMPLE BANK, N.A.",
        "State": "FL",
        "ZIP code": "330XX",
        "Tags": "",
        "Consumer consent provided?": "N/A",
        "Submitted via": "Web",
        "Date sent to company": "2023-08-28",
        "Company response to consumer": "Closed with explanation",
        "Timely response?": "Yes",
        "Consumer disputed?": "N/A",
        "Complaint ID": "1000001",
    }
    keys = {re.sub(r"[^a-z]", "", name.lower()): name for name in HEADER}
    for key, value in values.items():
        row[keys[key.replace("_", "")]] = value
    return [row[name] for name in HEADER]


def write_csv(path: Path, *rows: list[str], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@dataclass
class Run:
    out: str
    err: str
    seconds: float


def import_cfpb(*paths: Path, **options) -> Run:
    out, err = StringIO(), StringIO()
    started = time.perf_counter()
    call_command("import_cfpb", *map(str, paths), stdout=out, stderr=err, **options)
    return Run(out.getvalue(), err.getvalue(), time.perf_counter() - started)


def problems(run: Run) -> list[str]:
    """The skipped-row reports (``file:line: reason``), without progress-bar lines."""
    return [line for line in run.err.splitlines() if re.match(r".+:\d+: ", line)]


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Complaint,
            Customer,
            Category,
            RootCause,
            ComplaintRootCause,
            ComplaintEvent,
            RecoveryAction,
            Outbox,
            Clock,
        )
    } | {"numbers issued": sum(ReferenceCounter.objects.values_list("last_number", flat=True))}


# -- the whole sample: every file, twice ----------------------------------------------------


def unique_sample_rows() -> dict[str, dict[str, str]]:
    """Every sample row by Complaint ID, read with the csv module alone."""
    rows = {}
    for path in CFPB_FILES:
        with path.open(newline="", encoding="utf-8") as source:
            for row in csv.DictReader(source):
                rows[row["Complaint ID"]] = row
    return rows


def rows_in_files() -> int:
    total = 0
    for path in CFPB_FILES:
        with path.open(newline="", encoding="utf-8") as source:
            total += sum(1 for _ in csv.DictReader(source))
    return total


@dataclass
class FullImport:
    before: dict[str, int]
    first: Run
    after_first: dict[str, int]
    second: Run
    after_second: dict[str, int]


@pytest.fixture(scope="class")
def full_import(django_db_setup, django_db_blocker):
    """Every sample file imported twice, in a transaction rolled back after the class's tests.

    Importing ~17,000 rows twice is too slow to repeat per test; each test still runs in its
    own savepoint inside this transaction. Class-scoped, so the tests after the class see an
    empty database again.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        before = table_counts()
        first = import_cfpb(*CFPB_FILES)
        after_first = table_counts()
        second = import_cfpb(*CFPB_FILES)
        yield FullImport(before, first, after_first, second, table_counts())
        transaction.set_rollback(True)


@pytest.fixture
def imported(full_import, db):
    return full_import


@needs_samples
@pytest.mark.slow
class TestFullImport:
    """All rows of all sample files (the combined file is the union of the two others)."""

    def test_every_row_of_every_file_is_imported_exactly_once(self, imported):
        expected = unique_sample_rows()
        read = rows_in_files()

        assert problems(imported.first) == []
        assert imported.first.out.strip() == (
            f"CFPB import: {read} rows read, {len(expected)} created, "
            f"{read - len(expected)} already present, 0 skipped"
        )
        ids = Complaint.objects.filter(source="cfpb").values_list("external_id", flat=True)
        assert sorted(ids) == sorted(expected)
        created = {
            name: imported.after_first[name] - imported.before[name] for name in imported.before
        }
        assert created["Complaint"] == created["Customer"] == len(expected)
        assert created["ComplaintRootCause"] == len(expected)
        assert created["numbers issued"] == len(expected)
        # Imported history tells nobody anything and starts no clock.
        assert created["Outbox"] == created["Clock"] == 0

    def test_a_second_run_creates_nothing(self, imported):
        read = rows_in_files()

        assert imported.second.out.strip() == (
            f"CFPB import: {read} rows read, 0 created, {read} already present, 0 skipped"
        )
        assert imported.after_second == imported.after_first

    def test_pareto_of_imported_causes_matches_an_independent_count(self, imported):
        expected = Counter((row["Product"], row["Issue"]) for row in unique_sample_rows().values())
        # The primary cause is the sub-issue where the CFPB gives one, else the issue; a
        # sub-issue node is three levels below the root (cfpb > product > issue > sub-issue).
        is_sub_issue = When(root_cause__parent__parent__parent__isnull=False, then=True)
        counted = (
            ComplaintRootCause.objects.filter(is_primary=True, complaint__source="cfpb")
            .annotate(
                product=Case(
                    When(is_sub_issue.condition, then=F("root_cause__parent__parent__name")),
                    default=F("root_cause__parent__name"),
                ),
                issue=Case(
                    When(is_sub_issue.condition, then=F("root_cause__parent__name")),
                    default=F("root_cause__name"),
                ),
            )
            .values("product", "issue")
            .annotate(complaints=Count("id"))
            .order_by("-complaints", "product", "issue")
        )
        pareto = [(row["product"], row["issue"], row["complaints"]) for row in counted]

        assert {(p, i): n for p, i, n in pareto} == dict(expected)
        # The same ranking: most frequent first.
        assert [n for _, _, n in pareto] == sorted(expected.values(), reverse=True)
        assert pareto[0][2] == expected.most_common(1)[0][1]

    def test_deepest_causes_and_categories_match_the_files(self, imported):
        rows = unique_sample_rows().values()
        by_path = Counter(
            " > ".join(["CFPB", *filter(None, (r["Product"], r["Issue"], r["Sub-issue"]))])
            for r in rows
        )
        primary = ComplaintRootCause.objects.filter(
            is_primary=True, complaint__source="cfpb"
        ).select_related("root_cause__parent__parent__parent")

        assert Counter(link.root_cause.path for link in primary) == by_path
        assert all(
            len(code) <= 200 and ROOT_CAUSE_CODE_VALIDATOR(code) is None
            for code in RootCause.objects.filter(code__startswith="cfpb").values_list(
                "code", flat=True
            )
        )
        categories = Complaint.objects.filter(source="cfpb").values_list("category__name")
        assert Counter(name for (name,) in categories) == Counter(r["Product"] for r in rows)

    def test_channels_outcomes_and_recoveries_match_the_files(self, imported):
        rows = unique_sample_rows().values()
        channels = Counter(EXPECTED_CHANNEL[r["Submitted via"]] for r in rows)
        outcomes = Counter(EXPECTED_RESPONSE[r["Company response to consumer"]][:2] for r in rows)
        recoveries = Counter(
            EXPECTED_RESPONSE[r["Company response to consumer"]][2]
            for r in rows
            if EXPECTED_RESPONSE[r["Company response to consumer"]][2]
        )
        imported_complaints = Complaint.objects.filter(source="cfpb")

        assert Counter(imported_complaints.values_list("channel", flat=True)) == channels
        assert Counter(imported_complaints.values_list("state", "outcome")) == outcomes
        actions = RecoveryAction.objects.filter(complaint__source="cfpb")
        assert Counter(actions.values_list("type", flat=True)) == recoveries
        assert set(actions.values_list("status", "amount", "currency")) == {("delivered", None, "")}
        events = ComplaintEvent.objects.filter(complaint__source="cfpb")
        resolved = sum(outcome[0] == "resolved" for outcome in outcomes.elements())
        assert Counter(events.values_list("type", flat=True)) == {
            "received": len(rows),
            "routed": len(rows),
            "resolved": resolved,
        }
        assert not events.filter(actor__isnull=False).exists()
        assert (
            events.filter(parameters__imported__source="cfpb").count() == 2 * len(rows) + resolved
        )

    def test_references_are_numbered_per_year_of_receipt(self, imported):
        complaints = Complaint.objects.filter(source="cfpb").values_list("reference", "received_at")

        references = [reference for reference, _ in complaints]
        assert len(set(references)) == len(references)
        assert all(ref.startswith(f"RDR-{received.year}-") for ref, received in complaints)


# -- single rows: how each column maps ------------------------------------------------------


@pytest.mark.django_db
def test_a_closed_complaint_is_imported_with_its_history(tmp_path):
    path = write_csv(
        tmp_path / "one.csv",
        cfpb_row(
            complaint_id="3571115",
            date_received="2020-03-18",
            date_sent_to_company="2020-03-20",
            product="Credit card or prepaid card",
            sub_product="General-purpose credit card or charge card",
            issue="Problem with a purchase shown on your statement",
            sub_issue="Credit card company isn't resolving a dispute about a purchase",
            consumer_complaint_narrative="I was charged twice.\nThe bank did nothing.",
            company_public_response="Company believes it acted appropriately",
            company="EXAMPLE BANK",
            state="NY",
            zip_code="10001",
            tags="Older American, Servicemember",
            submitted_via="Referral",
            company_response_to_consumer="Closed with monetary relief",
            timely_response="No",
            consumer_disputed="Yes",
        ),
    )

    run = import_cfpb(path)

    assert run.out.strip() == "CFPB import: 1 rows read, 1 created, 0 already present, 0 skipped"
    # Not a terminal: the progress bar is printed as lines, ending with the whole file done.
    assert run.err.splitlines()[-1] == f"{path} [{'#' * 30}] 100%"
    complaint = Complaint.objects.get(source="cfpb", external_id="3571115")
    assert complaint.reference == format_reference(2020, 1)
    assert complaint.channel == "letter"
    assert complaint.category.name == "Credit card or prepaid card"
    assert complaint.product == "General-purpose credit card or charge card"
    assert complaint.subject == "Problem with a purchase shown on your statement"
    assert complaint.description == "I was charged twice.\nThe bank did nothing."
    assert complaint.state == "resolved"
    assert complaint.outcome == "upheld"
    assert complaint.received_at.isoformat() == "2020-03-18T12:00:00+00:00"
    assert complaint.acknowledged_at.isoformat() == "2020-03-20T12:00:00+00:00"
    # The CFPB's deadlines count from the day it sent the complaint on.
    assert complaint.sent_to_company_at.isoformat() == "2020-03-20T12:00:00+00:00"
    assert complaint.resolved_at is None
    assert (complaint.regulatory_profile, complaint.jurisdiction) == ("us_cfpb", "US-NY")
    assert complaint.source_data == {
        "company": "EXAMPLE BANK",
        "state": "NY",
        "zip_code": "10001",
        "tags": ["Older American", "Servicemember"],
        "submitted_via": "Referral",
        "company_response": "Closed with monetary relief",
        "company_public_response": "Company believes it acted appropriately",
        "timely_response": False,
        "consumer_disputed": True,
        "consumer_consent": "N/A",
    }
    assert complaint.customer.segment == "Older American, Servicemember"
    assert complaint.customer.email == ""
    primary = complaint.root_causes.get(is_primary=True).root_cause
    assert primary.path == (
        "CFPB > Credit card or prepaid card > Problem with a purchase shown on your statement"
        " > Credit card company isn't resolving a dispute about a purchase"
    )
    assert primary.code.startswith(
        "cfpb.credit-card-or-prepaid-card.problem-with-a-purchase-shown-on-your-statement."
    )
    (action,) = complaint.recovery_actions.all()
    assert (action.type, action.status, action.amount, action.currency) == (
        "refund",
        "delivered",
        None,
        "",
    )
    assert [(e.type, e.created_at.date().isoformat()) for e in complaint.events.all()] == [
        ("received", "2020-03-18"),
        ("routed", "2020-03-18"),
        ("resolved", "2020-03-20"),
    ]
    # No routing rule: in the triage team's history, as intake would have routed it.
    assert complaint.team.is_triage
    assert complaint.events.get(type="routed").parameters["by"] == "default"
    resolved = complaint.events.get(type="resolved")
    assert resolved.parameters["outcome"] == "upheld"
    assert resolved.parameters["root_causes"] == [primary.code]
    assert resolved.parameters["imported"]["external_id"] == "3571115"
    assert not Outbox.objects.exists()
    assert not Clock.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("response", "expected"), EXPECTED_RESPONSE.items())
def test_each_company_response_maps_to_a_state_outcome_and_recovery(tmp_path, response, expected):
    path = write_csv(tmp_path / "r.csv", cfpb_row(company_response_to_consumer=response))

    import_cfpb(path)

    complaint = Complaint.objects.get(source="cfpb")
    state, outcome, recovery = expected
    assert (complaint.state, complaint.outcome) == (state, outcome)
    assert list(complaint.recovery_actions.values_list("type", "status")) == (
        [(recovery, "delivered")] if recovery else []
    )
    events = list(complaint.events.values_list("type", flat=True))
    opened = ["received", "routed"]
    assert events == ([*opened, "resolved"] if state == "resolved" else opened)
    # Open or closed, the CFPB's issue is recorded as the cause.
    assert complaint.root_causes.filter(is_primary=True).count() == 1


@pytest.mark.django_db
def test_without_a_narrative_or_a_date_sent_the_complaint_says_what_it_is_about(tmp_path):
    path = write_csv(
        tmp_path / "open.csv",
        cfpb_row(
            sub_issue="",
            date_sent_to_company="",
            company_response_to_consumer="In progress",
        ),
    )

    import_cfpb(path)

    complaint = Complaint.objects.get(source="cfpb")
    # Not yet sent to the company: nobody has acknowledged it.
    assert (complaint.state, complaint.acknowledged_at) == ("received", None)
    assert "Issue: Trouble during payment process" in complaint.description
    assert complaint.root_causes.get().root_cause.code == (
        "cfpb.mortgage.trouble-during-payment-process"
    )


# -- bad rows --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_bad_rows_are_reported_with_their_line_and_skipped(tmp_path, batch_size):
    path = write_csv(
        tmp_path / "bad.csv",
        # line 2-4: a narrative with two newlines inside its quoted field
        cfpb_row(complaint_id="1", consumer_complaint_narrative="First line\nsecond\nthird"),
        cfpb_row()[:5],  # line 5: a short row
        cfpb_row(complaint_id="3", date_received="2023-02-30"),  # line 6: no such date
        cfpb_row(complaint_id=""),  # line 7: no id
        cfpb_row(complaint_id="5", submitted_via="Carrier pigeon"),  # line 8
        cfpb_row(complaint_id="6", company_response_to_consumer="Closed by magic"),  # line 9
        cfpb_row(complaint_id="7", date_sent_to_company="2023-08-01"),  # line 10: before receipt
        cfpb_row(complaint_id="8"),  # line 11: good
        cfpb_row(complaint_id="1"),  # line 12: the id of line 2 again
        # line 13: a field beyond the csv module's limit (128 KiB)
        cfpb_row(complaint_id="9", consumer_complaint_narrative="x" * 140_000),
        cfpb_row(complaint_id="10"),  # line 14: good
    )

    run = import_cfpb(path, batch_size=batch_size)

    assert problems(run) == [
        f"{path}:5: expected 18 fields, found 5",
        f"{path}:6: Date received '2023-02-30' is not a date (YYYY-MM-DD)",
        f"{path}:7: no Complaint ID",
        f"{path}:8: unknown Submitted via 'Carrier pigeon'",
        f"{path}:9: unknown Company response to consumer 'Closed by magic'",
        f"{path}:10: Date sent to company 2023-08-01 is before Date received 2023-08-25",
        f"{path}:13: not valid CSV: field larger than field limit (131072)",
    ]
    assert run.out.strip() == ("CFPB import: 11 rows read, 3 created, 1 already present, 7 skipped")
    assert set(Complaint.objects.values_list("external_id", flat=True)) == {"1", "8", "10"}
    assert Complaint.objects.get(external_id="1").description == "First line\nsecond\nthird"


@pytest.mark.django_db
def test_a_file_that_is_not_an_export_is_reported_and_the_others_still_imported(tmp_path):
    other = write_csv(tmp_path / "other.csv", ["1", "2"], header=["id", "name"])
    good = write_csv(tmp_path / "good.csv", cfpb_row())

    run = import_cfpb(other, good)

    (problem,) = problems(run)
    assert problem.startswith(f"{other}:1: not a CFPB export: no column 'Date received'")
    assert run.out.strip() == "CFPB import: 1 rows read, 1 created, 0 already present, 0 skipped"


@pytest.mark.django_db
def test_a_missing_file_is_refused_before_anything_is_read(tmp_path):
    good = write_csv(tmp_path / "good.csv", cfpb_row())

    with pytest.raises(CommandError, match=r"No such file: .*missing\.csv"):
        import_cfpb(good, tmp_path / "missing.csv")

    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_a_batch_the_database_refuses_is_retried_row_by_row(tmp_path):
    # A complaint already holds the second reference the counter would give (a counter
    # restored from an older backup, say): the batch's INSERT fails on the unique reference.
    path = write_csv(
        tmp_path / "three.csv",
        *(cfpb_row(complaint_id=str(n)) for n in (11, 12, 13)),
    )
    import_cfpb(write_csv(tmp_path / "first.csv", cfpb_row(complaint_id="10")))
    Complaint.objects.filter(external_id="10").update(reference=format_reference(2023, 3))
    ReferenceCounter.objects.filter(year=2023).update(last_number=1)

    run = import_cfpb(path)

    assert problems(run) == []
    assert run.out.strip() == "CFPB import: 3 rows read, 3 created, 0 already present, 0 skipped"
    references = list(Complaint.objects.values_list("reference", flat=True))
    assert len(set(references)) == 4


# -- codes -----------------------------------------------------------------------------------


def test_long_names_give_valid_distinct_codes_the_same_every_time():
    product = "Credit reporting, credit repair services, or other personal consumer reports"
    issue = "Problem with a credit reporting company's investigation into an existing problem"
    long_a = "Their investigation did not fix an error on your report " * 3
    long_b = "Their investigation did not fix an error on your report " * 4

    code_a = cfpb_taxonomy.cause_path(product, issue, long_a)[-1][0]
    code_b = cfpb_taxonomy.cause_path(product, issue, long_b)[-1][0]

    for code in (code_a, code_b):
        assert len(code) <= 200
        ROOT_CAUSE_CODE_VALIDATOR(code)
    assert code_a != code_b
    assert code_a == cfpb_taxonomy.cause_path.__wrapped__(product, issue, long_a)[-1][0]
    # Short enough names are kept whole, so codes read as what they are.
    assert cfpb_taxonomy.cause_path("Mortgage", "Closing on a mortgage")[-1][0] == (
        "cfpb.mortgage.closing-on-a-mortgage"
    )
    assert cfpb_taxonomy.code_segment("???", 80).startswith("x")
    ROOT_CAUSE_CODE_VALIDATOR(f"cfpb.{cfpb_taxonomy.code_segment('???', 80)}")
