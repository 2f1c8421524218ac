"""The queue's pages and search at 100,000 complaints (bench/queue_page.py).

- The urgency indexes carry every column the queue filters on, the customer and the two
  deadline columns of the order, so that the page's ids and the capped count are read from
  the index alone whatever the filters; a third, led by the state, does the same for a queue
  filtered to one state (resolved, loop closed, …).
- ``recovery_complaint.message_document`` (PostgreSQL only, not on the model, like
  ``search_document``): the words of all the complaint's messages in one ``tsvector``, with
  its GIN index. A trigger on ``recovery_message`` keeps it: an insert appends the new
  message's ``search_document``; an update of the body or the complaint, or a delete,
  rebuilds it from the messages. The queue's search then matches a message's words with a
  condition on the complaint's own row, which PostgreSQL combines with the subject's and the
  customer's in one bitmap, or checks row by row while it walks the urgency index; the
  array of every matching message's complaint id it used before (14,000 of them for a word
  in every seventh complaint) cost a scan of that array per row.

The column is filled for the existing messages once (a minute or so at a million messages).
"""

import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models

# tsvector || tsvector over rows: PostgreSQL has the operator (tsvector_concat), no aggregate.
AGGREGATE = (
    "CREATE OR REPLACE AGGREGATE redress_tsvector_agg(tsvector) "
    "(SFUNC = tsvector_concat, STYPE = tsvector, INITCOND = '')"
)
TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION recovery_message_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE recovery_complaint
           SET message_document = coalesce(message_document, ''::tsvector) || NEW.search_document
         WHERE id = NEW.complaint_id;
    ELSE
        UPDATE recovery_complaint c
           SET message_document = (
               SELECT redress_tsvector_agg(m.search_document ORDER BY m.id)
                 FROM recovery_message m WHERE m.complaint_id = c.id)
         WHERE c.id = OLD.complaint_id
            OR (TG_OP = 'UPDATE' AND c.id = NEW.complaint_id);
    END IF;
    RETURN NULL;
END
$$
"""
TRIGGER = (
    "CREATE TRIGGER recovery_message_words AFTER INSERT OR DELETE OR UPDATE OF body, "
    "complaint_id ON recovery_message FOR EACH ROW EXECUTE FUNCTION recovery_message_words()"
)


def message_words(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    execute("ALTER TABLE recovery_complaint ADD COLUMN IF NOT EXISTS message_document tsvector")
    execute(AGGREGATE)
    execute(TRIGGER_FUNCTION)
    execute("DROP TRIGGER IF EXISTS recovery_message_words ON recovery_message")
    execute(TRIGGER)
    # The queue's search: WHERE message_document @@ websearch_to_tsquery('english', …).
    # Built before the rows are filled, for the reason the operations' order gives.
    execute(
        "CREATE INDEX IF NOT EXISTS complaint_message_document_idx "
        "ON recovery_complaint USING gin (message_document)"
    )
    execute(
        "UPDATE recovery_complaint c SET message_document = words.document FROM ("
        "SELECT complaint_id, redress_tsvector_agg(search_document ORDER BY id) AS document "
        "FROM recovery_message GROUP BY complaint_id) words WHERE words.complaint_id = c.id"
    )
    execute("ANALYZE recovery_complaint")


def message_words_backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    execute("DROP TRIGGER IF EXISTS recovery_message_words ON recovery_message")
    execute("DROP FUNCTION IF EXISTS recovery_message_words()")
    execute("DROP AGGREGATE IF EXISTS redress_tsvector_agg(tsvector)")
    execute("DROP INDEX IF EXISTS complaint_message_document_idx")
    execute("ALTER TABLE recovery_complaint DROP COLUMN IF EXISTS message_document")


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0035_saved_views"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The indexes before the column is filled: an index built over rows this transaction
    # has just updated could not be used by queries until every older transaction ended.
    operations = [
        migrations.RemoveIndex(
            model_name="complaint",
            name="complaint_open_urgency_idx",
        ),
        migrations.RemoveIndex(
            model_name="complaint",
            name="complaint_mine_urgency_idx",
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                models.F("urgency"),
                django.db.models.functions.comparison.Coalesce("overdue_since", "next_deadline_at"),
                models.F("id"),
                models.F("team"),
                models.F("assignee"),
                models.F("channel"),
                models.F("severity"),
                models.F("category"),
                models.F("regulatory_profile"),
                models.F("customer"),
                models.F("overdue_since"),
                models.F("next_deadline_at"),
                condition=models.Q(("state__in", ["received", "acknowledged"])),
                name="complaint_open_urgency_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                models.F("assignee"),
                models.F("urgency"),
                django.db.models.functions.comparison.Coalesce("overdue_since", "next_deadline_at"),
                models.F("id"),
                models.F("team"),
                models.F("channel"),
                models.F("severity"),
                models.F("category"),
                models.F("regulatory_profile"),
                models.F("customer"),
                models.F("overdue_since"),
                models.F("next_deadline_at"),
                condition=models.Q(("state__in", ["received", "acknowledged"])),
                name="complaint_mine_urgency_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                models.F("state"),
                models.F("urgency"),
                django.db.models.functions.comparison.Coalesce("overdue_since", "next_deadline_at"),
                models.F("id"),
                models.F("team"),
                models.F("assignee"),
                models.F("channel"),
                models.F("severity"),
                models.F("category"),
                models.F("regulatory_profile"),
                models.F("customer"),
                models.F("overdue_since"),
                models.F("next_deadline_at"),
                name="complaint_state_urgency_idx",
            ),
        ),
        migrations.RunPython(message_words, message_words_backwards),
    ]
