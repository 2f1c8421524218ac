"""Covering indexes for the insight queries (recovery.insights.selectors), PostgreSQL only.

Each lets a report over a year of complaints read a narrow index instead of the wide complaint
rows (PostgreSQL answers from the index alone once VACUUM has marked the pages all-visible).
They are database-only: the models do not declare them, so SQLite (the embedded mode, small
data) does not pay for them on every write.
"""

from django.db import migrations

INDEXES = [
    # KPIs, complaint volume per week, Pareto and repeat totals: complaints received in a
    # period (WHERE received_at >= … AND received_at < …), with every column they group,
    # filter or aggregate on.
    (
        "insight_complaint_scan_idx",
        "recovery_complaint (received_at) INCLUDE (id, customer_id, channel, product, team_id, "
        "touchpoint_id, journey_stage_id, assignee_id, regulatory_profile, resolved_at, "
        "reopen_count, business_seconds_to_acknowledge, business_seconds_to_resolve)",
    ),
    # Pareto, trends, rising causes, CAPA effectiveness: the primary cause of each complaint
    # (JOIN recovery_complaintrootcause … ON complaint_id = … AND is_primary).
    (
        "insight_primary_cause_idx",
        "recovery_complaintrootcause (complaint_id) INCLUDE (root_cause_id) WHERE is_primary",
    ),
    # Pareto by cost: money of non-declined recovery actions per complaint.
    (
        "insight_recovery_cost_idx",
        "recovery_recoveryaction (complaint_id) INCLUDE (currency, amount) "
        "WHERE amount IS NOT NULL AND status <> 'declined'",
    ),
    # Repeat complaints: each customer's complaints in time order (LAG … OVER (PARTITION BY
    # customer_id ORDER BY received_at, id)), with the columns the scope filters on.
    (
        "insight_customer_sequence_idx",
        "recovery_complaint (customer_id, received_at, id) "
        "INCLUDE (channel, product, team_id, touchpoint_id)",
    ),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _definition in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0005_default_approval_limits")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
