"""Daily insight summaries and the change log that keeps them exact, PostgreSQL only.

A year of a million complaints is too much to aggregate on every request, so the insights
read per-day summaries (recovery.insights.summaries) built from the complaints. To keep them
exact, statement-level triggers note the receipt time of every complaint whose own row, root
causes, recovery actions, survey or SLA clocks change, in ``insight_dirty``; the summaries
of those days are rebuilt before the next read and by a periodic task. SQLite (the embedded
mode, small data) has none of this: its insights aggregate the complaints directly.
"""

from django.db import migrations

# Each summary row is one local day of receipt, for all complaints (dimension '') or for the
# complaints with one value of one dimension (dimension 'channel', value 'web').
TABLES = """
CREATE TABLE IF NOT EXISTS insight_dirty (received_at timestamptz NOT NULL);

CREATE TABLE IF NOT EXISTS insight_summary_state (
    id smallint PRIMARY KEY CHECK (id = 1),
    time_zone text NOT NULL,
    version integer NOT NULL,
    built_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS insight_cause_day (
    day date NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    root_cause_id bigint,
    primary_complaints integer NOT NULL,
    mentions integer NOT NULL
);
CREATE INDEX IF NOT EXISTS insight_cause_day_idx ON insight_cause_day (dimension, value, day);
CREATE INDEX IF NOT EXISTS insight_cause_day_day_idx ON insight_cause_day (day);

CREATE TABLE IF NOT EXISTS insight_cost_day (
    day date NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    root_cause_id bigint,
    currency text NOT NULL,
    spent numeric NOT NULL,
    actions integer NOT NULL,
    complaints integer NOT NULL
);
CREATE INDEX IF NOT EXISTS insight_cost_day_idx ON insight_cost_day (dimension, value, day);
CREATE INDEX IF NOT EXISTS insight_cost_day_day_idx ON insight_cost_day (day);

CREATE TABLE IF NOT EXISTS insight_kpi_day (
    day date NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    complaints integer NOT NULL,
    acknowledged integer NOT NULL,
    resolved integer NOT NULL,
    ever_resolved integer NOT NULL,
    reopened integer NOT NULL,
    within_3_business_days integer NOT NULL,
    within_8_weeks integer NOT NULL,
    csat_answers integer NOT NULL,
    csat_satisfied integer NOT NULL,
    nps_answers integer NOT NULL,
    nps_promoters integer NOT NULL,
    nps_detractors integer NOT NULL,
    ces_answers integer NOT NULL,
    ces_sum integer NOT NULL,
    acknowledge_buckets integer[] NOT NULL,
    acknowledge_counts integer[] NOT NULL,
    resolve_buckets integer[] NOT NULL,
    resolve_counts integer[] NOT NULL
);
CREATE INDEX IF NOT EXISTS insight_kpi_day_idx ON insight_kpi_day (dimension, value, day);
CREATE INDEX IF NOT EXISTS insight_kpi_day_day_idx ON insight_kpi_day (day);

-- The duration histograms again per calendar month (``month`` is its first day): a year of
-- one agent's days is twelve rows, not 365, when the percentiles add them up.
CREATE TABLE IF NOT EXISTS insight_duration_month (
    month date NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    acknowledge_buckets integer[] NOT NULL,
    acknowledge_counts integer[] NOT NULL,
    resolve_buckets integer[] NOT NULL,
    resolve_counts integer[] NOT NULL
);
CREATE INDEX IF NOT EXISTS insight_duration_month_idx
    ON insight_duration_month (dimension, value, month);

CREATE TABLE IF NOT EXISTS insight_clock_day (
    day date NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    clock text NOT NULL,
    met integer NOT NULL,
    breached integer NOT NULL
);
CREATE INDEX IF NOT EXISTS insight_clock_day_idx ON insight_clock_day (dimension, value, day);
CREATE INDEX IF NOT EXISTS insight_clock_day_day_idx ON insight_clock_day (day);
"""

# (table, how the changed rows reach the complaint's receipt time). Statement-level triggers
# with transition tables: a bulk update of a thousand clocks logs in one INSERT … SELECT.
WATCHED = [
    ("recovery_complaint", "SELECT received_at FROM {rows}"),
    *(
        (
            table,
            "SELECT c.received_at FROM recovery_complaint c "
            "JOIN (SELECT DISTINCT complaint_id FROM {rows}) r ON r.complaint_id = c.id",
        )
        for table in (
            "recovery_complaintrootcause",
            "recovery_recoveryaction",
            "recovery_survey",
            "escalation_clock",
        )
    ),
]
OPERATIONS = {"INSERT": ("new_rows",), "UPDATE": ("old_rows", "new_rows"), "DELETE": ("old_rows",)}


def _trigger_sql(table: str, select: str, operation: str) -> str:
    rows = OPERATIONS[operation]
    name = f"insight_dirty_{table}_{operation.lower()}"
    selects = " UNION ".join(select.format(rows=r) for r in rows)
    referencing = " ".join(f"{'OLD' if r == 'old_rows' else 'NEW'} TABLE AS {r}" for r in rows)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insight_dirty (received_at) {selects};
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS {name} ON {table};
CREATE TRIGGER {name} AFTER {operation} ON {table}
    REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}();
"""


# Emptying the complaints (a test database's flush, a reset) fires no row triggers: it
# empties the summaries too and forgets the build, so the next read rebuilds from scratch.
TRUNCATE_SQL = """
CREATE OR REPLACE FUNCTION insight_forget_summaries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE insight_dirty, insight_summary_state, insight_cause_day, insight_cost_day,
        insight_kpi_day, insight_duration_month, insight_clock_day;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS insight_forget_summaries ON recovery_complaint;
CREATE TRIGGER insight_forget_summaries AFTER TRUNCATE ON recovery_complaint
    FOR EACH STATEMENT EXECUTE FUNCTION insight_forget_summaries();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TABLES)
    for table, select in WATCHED:
        for operation in OPERATIONS:
            schema_editor.execute(_trigger_sql(table, select, operation))
    schema_editor.execute(TRUNCATE_SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS insight_forget_summaries ON recovery_complaint")
    schema_editor.execute("DROP FUNCTION IF EXISTS insight_forget_summaries()")
    for table, _select in WATCHED:
        for operation in OPERATIONS:
            name = f"insight_dirty_{table}_{operation.lower()}"
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for table in (
        "insight_clock_day",
        "insight_duration_month",
        "insight_kpi_day",
        "insight_cost_day",
        "insight_cause_day",
        "insight_summary_state",
        "insight_dirty",
    ):
        schema_editor.execute(f"DROP TABLE IF EXISTS {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0006_insight_indexes"),
        ("escalation", "0003_clock_warned_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
