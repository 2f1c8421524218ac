"""Each complaint's previous complaint from the same customer, kept for the repeat report.

Finding repeat complaints means ordering every customer's complaints in time (a window
function over a year of complaints and its look-back). ``insight_sequence`` keeps, per
complaint, the customer's complaint before it and both primary causes, rebuilt per customer
by the insight summaries' refresh (recovery.insights.summaries): the triggers of 0007 on
complaints and on their root causes now also log the customer. PostgreSQL only, like 0007.
"""

from django.db import migrations

TABLES = """
ALTER TABLE insight_dirty ADD COLUMN IF NOT EXISTS customer_id bigint;

CREATE TABLE IF NOT EXISTS insight_sequence (
    complaint_id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    received_at timestamptz NOT NULL,
    previous_id bigint,
    previous_at timestamptz,
    primary_cause_id bigint,
    previous_cause_id bigint,
    channel text NOT NULL,
    product text NOT NULL,
    touchpoint_id bigint,
    team_id bigint
);
-- The report reads one period of complaints with everything it counts, from this index alone.
CREATE INDEX IF NOT EXISTS insight_sequence_received_idx ON insight_sequence (received_at)
    INCLUDE (complaint_id, customer_id, previous_at, primary_cause_id, previous_cause_id,
             channel, product, touchpoint_id, team_id);
CREATE INDEX IF NOT EXISTS insight_sequence_customer_idx ON insight_sequence (customer_id);
"""

COMPLAINT_TRIGGERS = {
    "insert": "SELECT received_at, customer_id FROM new_rows",
    "update": "SELECT received_at, customer_id FROM old_rows "
    "UNION SELECT received_at, customer_id FROM new_rows",
    "delete": "SELECT received_at, customer_id FROM old_rows",
}
CAUSE_SELECT = (
    "SELECT c.received_at, c.customer_id FROM recovery_complaint c "
    "JOIN (SELECT DISTINCT complaint_id FROM {rows}) r ON r.complaint_id = c.id"
)
CAUSE_TRIGGERS = {
    "insert": CAUSE_SELECT.format(rows="new_rows"),
    "update": CAUSE_SELECT.format(rows="old_rows")
    + " UNION "
    + CAUSE_SELECT.format(rows="new_rows"),
    "delete": CAUSE_SELECT.format(rows="old_rows"),
}
PREVIOUS_CAUSE_TRIGGERS = {
    operation: select.replace(", c.customer_id", "") for operation, select in CAUSE_TRIGGERS.items()
}
PREVIOUS_COMPLAINT_TRIGGERS = {
    "insert": "SELECT received_at FROM new_rows",
    "update": "SELECT received_at FROM old_rows UNION SELECT received_at FROM new_rows",
    "delete": "SELECT received_at FROM old_rows",
}


def _function(operation: str, select: str, columns: str, table="recovery_complaint") -> str:
    name = f"insight_dirty_{table}_{operation}"
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insight_dirty ({columns}) {select};
    RETURN NULL;
END $$;
"""


# What emptying the complaints empties (0007's insight_forget_summaries), before this one.
FORGOTTEN = (
    "insight_dirty",
    "insight_summary_state",
    "insight_cause_day",
    "insight_cost_day",
    "insight_kpi_day",
    "insight_duration_month",
    "insight_clock_day",
)


def _forget_sql(tables) -> str:
    return (
        "CREATE OR REPLACE FUNCTION insight_forget_summaries() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN TRUNCATE {', '.join(tables)}; RETURN NULL; END $$;"
    )


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TABLES)
    # Same triggers, new bodies: the functions are replaced in place.
    for operation, select in COMPLAINT_TRIGGERS.items():
        schema_editor.execute(_function(operation, select, "received_at, customer_id"))
    for operation, select in CAUSE_TRIGGERS.items():
        schema_editor.execute(
            _function(operation, select, "received_at, customer_id", "recovery_complaintrootcause")
        )
    schema_editor.execute(_forget_sql((*FORGOTTEN, "insight_sequence")))
    # Summaries built before this migration have no sequences: build everything again.
    schema_editor.execute("DELETE FROM insight_summary_state")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for operation, select in PREVIOUS_COMPLAINT_TRIGGERS.items():
        schema_editor.execute(_function(operation, select, "received_at"))
    for operation, select in PREVIOUS_CAUSE_TRIGGERS.items():
        schema_editor.execute(
            _function(operation, select, "received_at", "recovery_complaintrootcause")
        )
    schema_editor.execute(_forget_sql(FORGOTTEN))
    schema_editor.execute("DROP TABLE IF EXISTS insight_sequence")
    schema_editor.execute("ALTER TABLE insight_dirty DROP COLUMN IF EXISTS customer_id")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0007_insight_summaries")]

    operations = [migrations.RunPython(create, drop)]
