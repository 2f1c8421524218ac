"""A compiled INSERT writes what ``objects.create()`` and ``bulk_create()`` write, and does
around it what ``save()`` does: signals, refusals, rollback marks."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.compiler import SQLInsertCompiler
from django.utils import timezone

from common.compiled_inserts import CompiledInsert
from escalation.models import Clock
from recovery.models import (
    Channel,
    Complaint,
    Customer,
    IdempotencyKey,
    Message,
    MessageDirection,
    MessageKind,
)
from tests.conftest import api_client

pytestmark = pytest.mark.django_db

COMPLAINTS = CompiledInsert(Complaint)
MESSAGES = CompiledInsert(Message)
CUSTOMERS = CompiledInsert(Customer)
CLOCKS = CompiledInsert(Clock)
RECEIVED_AT = timezone.now() - timedelta(hours=2)


def _row(model, pk) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


def _complaint_fields(customer, reference: str) -> dict:
    return {
        "reference": reference,
        "customer": customer,
        "channel": Channel.EMAIL,  # a str enum: prepared by the field
        "subject": "Charged twice",
        "description": "Two charges for one order.",
        "occurred_on": date(2026, 3, 1),
        "received_at": RECEIVED_AT,
        "reopen_count": 0,
    }


def test_a_compiled_insert_writes_the_row_create_writes():
    customer = CUSTOMERS.create(name="Ann", email="ann@example.com")
    by_django = Complaint.objects.create(**_complaint_fields(customer, "RDR-2026-000901"))
    compiled = COMPLAINTS.create(**_complaint_fields(customer, "RDR-2026-000902"))

    assert compiled.pk and not compiled._state.adding and compiled._state.db == "default"
    expected = _row(Complaint, by_django.pk) | {"reference": "RDR-2026-000902"}
    written = _row(Complaint, compiled.pk)
    # Stamped when each row went in.
    for stamped in ("created_at", "updated_at"):
        assert written.pop(stamped) >= expected.pop(stamped)
    assert written == expected
    assert Customer.objects.get(pk=customer.pk).email == "ann@example.com"


@pytest.mark.postgresql(reason="the compiled INSERTs are PostgreSQL's; elsewhere Django's serve")
def test_an_intake_compiles_no_insert_of_its_rows_through_django(agent, team, monkeypatch):
    compile_insert = SQLInsertCompiler.as_sql
    intake_rows = {Complaint, Customer, Message, Clock, IdempotencyKey}

    def refuse(self, *args, **kwargs):
        if self.query.model in intake_rows:
            raise AssertionError(f"compiled an INSERT into {self.query.model._meta.db_table}")
        return compile_insert(self, *args, **kwargs)

    monkeypatch.setattr(SQLInsertCompiler, "as_sql", refuse)
    answer = api_client(agent).post(
        "/api/complaints/",
        {
            "subject": "Charged twice",
            "description": "Two charges for one order.",
            "customer": {"name": "New Person", "email": "new@example.com"},
            "team": team.slug,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="compiled-1",
    )

    assert answer.status_code == 201, answer.json()
    complaint = Complaint.objects.get()
    assert complaint.messages.get().body == "Two charges for one order."
    assert complaint.clocks.exists()
    assert IdempotencyKey.objects.get(complaint=complaint).key == "compiled-1"


def test_create_sends_what_save_sends_and_keeps_what_pre_save_changed():
    customer = CUSTOMERS.create(name="Ann")
    complaint = COMPLAINTS.create(**_complaint_fields(customer, "RDR-2026-000903"))
    heard = []

    def before(sender, instance, **kwargs):
        instance.body = instance.body.upper()
        heard.append(("pre", kwargs["raw"], kwargs["update_fields"]))

    def after(sender, instance, created, **kwargs):
        heard.append(("post", created, instance.pk))

    pre_save.connect(before, sender=Message)
    post_save.connect(after, sender=Message)
    try:
        message = MESSAGES.create(
            complaint=complaint,
            direction=MessageDirection.INBOUND,
            kind=MessageKind.ORIGINAL,
            body="loud",
        )
    finally:
        pre_save.disconnect(before, sender=Message)
        post_save.disconnect(after, sender=Message)

    assert heard == [("pre", False, None), ("post", True, message.pk)]
    assert Message.objects.get(pk=message.pk).body == "LOUD"


def test_bulk_create_sets_the_keys_in_order_and_sends_no_signal():
    customer = CUSTOMERS.create(name="Ann")
    complaint = COMPLAINTS.create(**_complaint_fields(customer, "RDR-2026-000904"))
    now = timezone.now()
    heard = []

    def after(sender, **kwargs):
        heard.append(kwargs)

    post_save.connect(after, sender=Clock)
    try:
        clocks = CLOCKS.bulk_create(
            [
                Clock(
                    complaint=complaint,
                    kind=kind,
                    target_seconds=n * 86400,
                    started_at=now,
                    due_at=now + timedelta(days=n),
                )
                for n, kind in enumerate(("acknowledge", "resolve"), 1)
            ]
        )
    finally:
        post_save.disconnect(after, sender=Clock)

    assert heard == []
    assert [
        (c.kind, c.due_at)
        for c in Clock.objects.filter(pk__in=[c.pk for c in clocks]).order_by("pk")
    ] == [
        ("acknowledge", now + timedelta(days=1)),
        ("resolve", now + timedelta(days=2)),
    ]
    assert [c.pk for c in clocks] == sorted(c.pk for c in clocks)
    assert not any(c._state.adding for c in clocks)


def test_an_expression_is_placed_by_djangos_compiler():
    customer = CUSTOMERS.create(name=Value("Ann"), email="ann@example.com")

    assert Customer.objects.get(pk=customer.pk).name == "Ann"


def test_an_unsaved_related_object_is_refused():
    with pytest.raises(ValueError, match="unsaved related object 'customer'"):
        COMPLAINTS.create(**_complaint_fields(Customer(name="Nobody"), "RDR-2026-000905"))


def test_a_failed_insert_marks_the_transaction_for_rollback():
    customer = CUSTOMERS.create(name="Ann")
    COMPLAINTS.create(**_complaint_fields(customer, "RDR-2026-000906"))
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            COMPLAINTS.create(**_complaint_fields(customer, "RDR-2026-000906"))
        assert connection.needs_rollback
