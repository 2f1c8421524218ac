"""Full-text search of the desk's queue (desk.selectors.search_filter), PostgreSQL only.

- ``recovery_complaint.search_document``: a stored, generated ``tsvector`` of the subject
  (weight A) and the description (weight B), English configuration, with a GIN index. It is
  not on the Django model (SQLite, the embedded mode, cannot compute it); the queue names it
  with ``desk.selectors.SearchDocument``. Stored, so that ranking a common word's thousands
  of matches reads a column instead of parsing every description again.
- ``recovery_message.search_document``: the same for a message's body, with its GIN index
  (``message_search_document_idx``): a word in many messages is then matched on a stored
  column, not by parsing each body again.
- ``customer_phone_digits_trgm_idx``: trigram index over the digits of the customer's
  telephone: WHERE regexp_replace(phone, '[^0-9]', '', 'g') LIKE '%2079460000%'.
- The trigram indexes over the subject and the description (0009) go: words are searched
  through ``search_document`` now, and each index cost every insert and edit.

Adding the column rewrites the complaint table once (a minute or so at a million rows).
"""

from django.db import migrations

COLUMNS = [
    "ALTER TABLE recovery_complaint ADD COLUMN IF NOT EXISTS search_document tsvector "
    "GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english'::regconfig, coalesce(subject, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
    ") STORED",
    "ALTER TABLE recovery_message ADD COLUMN IF NOT EXISTS search_document tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(body, ''))) STORED",
]

INDEXES = [
    # The queue's search: WHERE search_document @@ websearch_to_tsquery('english', …).
    ("complaint_search_document_idx", "recovery_complaint USING gin (search_document)"),
    # The messages' words: WHERE search_document @@ websearch_to_tsquery('english', …).
    ("message_search_document_idx", "recovery_message USING gin (search_document)"),
    (
        "customer_phone_digits_trgm_idx",
        "recovery_customer USING gin (regexp_replace(phone::text, '[^0-9]', '', 'g') gin_trgm_ops)",
    ),
]

REPLACED = [
    (
        "complaint_subject_trgm_idx",
        "recovery_complaint USING gin (UPPER(subject::text) gin_trgm_ops)",
    ),
    (
        "complaint_description_trgm_idx",
        "recovery_complaint USING gin (UPPER(description) gin_trgm_ops)",
    ),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(column)
    for name, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    for name, _definition in REPLACED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("ANALYZE recovery_complaint, recovery_message, recovery_customer")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in REPLACED:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    for name, _definition in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    for table in ("recovery_complaint", "recovery_message"):
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_document")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0030_queue_urgency")]

    operations = [migrations.RunPython(forwards, backwards)]
