"""The words of complaints and messages, whatever their accents: the text search
configuration ``redress_english`` is PostgreSQL's ``english`` with ``unaccent`` before the
stemmer ("Zoë" and "café" are stored as 'zoe' and 'cafe', and a search for "zoe" or "Café"
is read the same way). PostgreSQL only.

The generated ``search_document`` columns of the complaint and of the message are made
again with it, with their GIN indexes, and the complaints' copy of their messages' words
(``message_document``) is rebuilt: this rewrites the complaint and message tables once (a
minute or two at a million rows), as 0031 did when it added the columns.
"""

from django.db import migrations

CONFIGURATION = [
    "CREATE TEXT SEARCH CONFIGURATION redress_english (COPY = english)",
    "ALTER TEXT SEARCH CONFIGURATION redress_english "
    "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
]


def columns(config: str) -> list[str]:
    return [
        "ALTER TABLE recovery_complaint DROP COLUMN IF EXISTS search_document",
        "ALTER TABLE recovery_complaint ADD COLUMN search_document tsvector "
        "GENERATED ALWAYS AS ("
        f"setweight(to_tsvector('{config}'::regconfig, coalesce(subject, '')), 'A') || "
        f"setweight(to_tsvector('{config}'::regconfig, coalesce(description, '')), 'B')"
        ") STORED",
        "ALTER TABLE recovery_message DROP COLUMN IF EXISTS search_document",
        "ALTER TABLE recovery_message ADD COLUMN search_document tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('{config}'::regconfig, coalesce(body, ''))) STORED",
        # Dropped with their columns.
        "CREATE INDEX complaint_search_document_idx ON recovery_complaint "
        "USING gin (search_document)",
        "CREATE INDEX message_search_document_idx ON recovery_message USING gin (search_document)",
        "UPDATE recovery_complaint c SET message_document = words.document FROM ("
        "SELECT complaint_id, redress_tsvector_agg(search_document ORDER BY id) AS document "
        "FROM recovery_message GROUP BY complaint_id) words WHERE words.complaint_id = c.id",
        "ANALYZE recovery_complaint, recovery_message",
    ]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*CONFIGURATION, *columns("redress_english")]:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in columns("english"):
        schema_editor.execute(statement)
    schema_editor.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS redress_english")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0040_search_without_accents")]

    operations = [migrations.RunPython(forwards, backwards)]
