"""A compiled read answers what its queryset answers, for any value, in any thread."""

import threading

import pytest
from django.db import connection, connections
from django.db.models import Count, Model
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from common.compiled_queries import CompiledQuery, server_binding_cursor
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


def _state_of(obj) -> tuple:
    attributes = {name: value for name, value in vars(obj).items() if name != "_state"}
    cached = {
        name: _state_of(value) if value else value
        for name, value in obj._state.fields_cache.items()
    }
    return (type(obj), attributes, obj._state.adding, obj._state.db, cached)


def test_a_compiled_read_makes_the_instances_from_db_makes(make_complaint, agent):
    complaint = acknowledge(make_complaint(), agent)
    expected = [_state_of(message) for message in _messages(complaint.pk)]

    assert [_state_of(message) for message in MESSAGES.run(complaint_id=complaint.pk)] == expected


def test_plain_rows_are_made_without_init(make_complaint, agent, monkeypatch):
    # A model whose __init__ would only store the row's values is made without it (a long
    # timeline made hundreds of instances per read); the complaint, whose __init__
    # (django-fsm's) records its state, is still made by from_db.
    complaint = acknowledge(make_complaint(), agent)
    made = []
    from_db = Model.from_db.__func__

    def counted(cls, db, field_names, values):
        made.append(cls)
        return from_db(cls, db, field_names, values)

    monkeypatch.setattr(Model, "from_db", classmethod(counted))
    assert len(MESSAGES.run(complaint_id=complaint.pk)) == 2
    assert Message not in made
    assert Complaint in made


def test_a_model_with_init_receivers_is_made_by_init(make_complaint, agent):
    complaint = acknowledge(make_complaint(), agent)
    heard = []

    def initialised(sender, instance, **kwargs):
        heard.append(instance.pk)

    post_init.connect(initialised, sender=Message)
    try:
        messages = MESSAGES.run(complaint_id=complaint.pk)
    finally:
        post_init.disconnect(initialised, sender=Message)
    assert heard == [message.pk for message in messages]


@pytest.mark.postgresql(reason="server-side binding is PostgreSQL's")
def test_a_long_statement_is_parsed_once(monkeypatch):
    # psycopg parses each run of a statement of more than 50 parameters (or 4,096
    # characters) anew; the compiled statements are few and long (the complaint's read, a
    # new complaint's clocks), so theirs are parsed once.
    from psycopg import _queries

    sql = "SELECT " + ", ".join(f"%s::int AS c{number}" for number in range(60))
    parsed = []
    parse = _queries._query2pg_nocache
    monkeypatch.setattr(
        _queries, "_query2pg_nocache", lambda *args: parsed.append(1) or parse(*args)
    )
    for run in range(3):
        with server_binding_cursor(connection) as cursor:
            cursor.execute(sql, list(range(run, run + 60)))
            assert cursor.fetchone() == tuple(range(run, run + 60))
    assert parsed == []
