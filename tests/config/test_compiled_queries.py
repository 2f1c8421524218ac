"""A compiled read answers what its queryset answers, for any value, in any thread."""

import threading

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from common.compiled_queries import CompiledQuery
from recovery.models import Complaint, Message
from tests.conftest import acknowledge

pytestmark = pytest.mark.django_db


def _messages(complaint_id):
    return (
        Message.objects.filter(complaint_id=complaint_id)
        .select_related("author", "complaint__customer")
        .annotate(siblings=Count("complaint__messages"))
        .defer("body")
        .order_by("id")
    )


MESSAGES = CompiledQuery(_messages, complaint_id=int)


def _shape(message):
    return (
        message.pk,
        message.direction,
        message.author.username if message.author else None,
        message.complaint.customer.name,
        message.siblings,
        message.get_deferred_fields(),
    )


def test_a_compiled_read_gives_the_querysets_instances(make_complaint, agent):
    first = acknowledge(make_complaint(), agent)
    second = make_complaint(subject="Another")
    for complaint in (first, second):
        expected = [_shape(message) for message in _messages(complaint.pk)]
        assert expected, "each complaint has messages to read"
        assert [_shape(message) for message in MESSAGES.run(complaint_id=complaint.pk)] == expected
    assert MESSAGES.run(complaint_id=-1) == []


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_it_on_its_own_connection(make_complaint):
    complaint = make_complaint()
    answers, wrappers = [], []

    def read():
        try:
            answers.append(len(MESSAGES.run(complaint_id=complaint.pk)))
            wrappers.append(connections["default"])
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [1, 1, 1]
    # Each read went through its thread's own connection, not the one that compiled it.
    assert len({id(wrapper) for wrapper in wrappers}) == 3
    assert connections["default"] not in wrappers


def test_a_value_that_changes_the_sql_is_refused():
    # A ``__contains`` lookup puts the value inside a pattern: no marker among the
    # parameters as given, so the query cannot be compiled once for every value.
    query = CompiledQuery(
        lambda subject: Complaint.objects.filter(subject__contains=subject), subject=str
    )
    with pytest.raises(ValueError, match="'subject' is not among"):
        query.compiled()


def test_a_compiled_values_read_gives_the_querysets_dicts(make_complaint, agent):
    complaint = acknowledge(make_complaint(), agent)

    def rows(complaint_id):
        return (
            Message.objects.filter(complaint_id=complaint_id)
            .order_by("id")
            .values("id", "direction", "created_at")
        )

    compiled = CompiledQuery(rows, complaint_id=int)
    assert compiled.run(complaint_id=complaint.pk) == list(rows(complaint.pk))
    assert len(compiled.run(complaint_id=complaint.pk)) == 2


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgresql(reason="prepared statements are PostgreSQL's")
def test_a_read_run_a_few_times_becomes_a_prepared_statement(make_complaint):
    complaint = make_complaint()
    query = CompiledQuery(
        lambda complaint_id: Message.objects.filter(complaint_id=complaint_id).only("id"),
        complaint_id=int,
    )
    with CaptureQueriesContext(connection) as logged:
        for _ in range(6):
            assert len(query.run(complaint_id=complaint.pk)) == 1
    # Prepared or not, each run is logged with its SQL and values, as Django logs its own.
    logged_sql = [entry["sql"] for entry in logged]
    assert [f'"complaint_id" = {complaint.pk} ' in sql for sql in logged_sql] == [True] * 6
    # The values travel apart from the SQL ($1), so one statement serves every complaint.
    prepared = [sql for sql in _prepared_statements() if "recovery_message" in sql]
    assert len(prepared) == 1 and "$1" in prepared[0]
    assert query.run(complaint_id=-1) == []


@pytest.mark.postgresql(reason="prepared statements are PostgreSQL's")
def test_prepared_statements_can_be_turned_off(make_complaint):
    complaint = make_complaint()
    query = CompiledQuery(
        lambda complaint_id: Message.objects.filter(complaint_id=complaint_id).only("pk"),
        complaint_id=int,
    )
    connection.ensure_connection()
    # What REDRESS_DB_PREPARED_STATEMENTS=0 sets on every connection (prepare_threshold).
    connection.connection.prepare_threshold = None
    try:
        for _ in range(8):
            assert len(query.run(complaint_id=complaint.pk)) == 1
        assert not [sql for sql in _prepared_statements() if "recovery_message" in sql]
    finally:
        connection.connection.prepare_threshold = 5
