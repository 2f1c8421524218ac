"""Indexes of the desk's queue pages and their search (recovery.web.selectors), PostgreSQL only.

The open complaints' deadline order lets a page of any depth, and its capped count, read one
narrow index; the trigram indexes (``pg_trgm``) let a search find a rare word without reading
every complaint of the queue, and give the planner statistics on the searched text, so a
common word is still read in deadline order until the page is full. They are database-only,
like 0006: SQLite (the embedded mode, small data) neither has ``pg_trgm`` nor needs them.

``CREATE EXTENSION pg_trgm`` needs a role that may create extensions in the database; see
docs/operations.md.
"""

from django.db import migrations

# The states of recovery.models.OPEN_STATES, as the queue's SQL writes them
# (state IN ('received', 'acknowledged')): a partial index serves only queries whose condition
# implies its own.
OPEN = "state IN ('received', 'acknowledged')"

INDEXES = [
    # Team queue: WHERE (team_id IN (…) OR team_id IS NULL) AND <open> ORDER BY
    # next_deadline_at, id LIMIT 51 OFFSET …, and its count up to 1,001. The team is carried
    # in the index, so neither reads a complaint row (queue_page reads the page's 51).
    (
        "complaint_open_deadline_idx",
        f"recovery_complaint (next_deadline_at, id) INCLUDE (team_id) WHERE {OPEN}",
    ),
    # My queue: WHERE assignee_id = … AND <open> ORDER BY next_deadline_at, id.
    (
        "complaint_open_assignee_idx",
        f"recovery_complaint (assignee_id, next_deadline_at, id) WHERE {OPEN}",
    ),
    # Search, the start of a reference (reference__istartswith):
    # UPPER(reference::text) LIKE 'RDR-2026-00%'.
    (
        "complaint_reference_upper_idx",
        "recovery_complaint (UPPER(reference::text) text_pattern_ops)",
    ),
    # Search, anywhere in the subject and the description (…__icontains):
    # UPPER(subject::text) LIKE '%WORD%', UPPER(description) LIKE '%WORD%'.
    (
        "complaint_subject_trgm_idx",
        "recovery_complaint USING gin (UPPER(subject::text) gin_trgm_ops)",
    ),
    (
        "complaint_description_trgm_idx",
        "recovery_complaint USING gin (UPPER(description) gin_trgm_ops)",
    ),
    # Search, the customer's name or email: customer_id = ANY(ARRAY(SELECT id FROM
    # recovery_customer WHERE UPPER(name::text) LIKE '%WORD%')), and the same for email.
    (
        "customer_name_trgm_idx",
        "recovery_customer USING gin (UPPER(name::text) gin_trgm_ops)",
    ),
    (
        "customer_email_trgm_idx",
        "recovery_customer USING gin (UPPER(email::text) gin_trgm_ops)",
    ),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    # The planner's estimate for a search comes from the statistics of the trigram indexes'
    # expressions, which ANALYZE gathers only once the indexes exist.
    schema_editor.execute("ANALYZE recovery_complaint, recovery_customer")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The extension stays: other database objects may use it by now.
    for name, _definition in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0008_insight_sequences")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
