"""A complaint written with its first message's words already: no second write of its row.

Intake writes a new complaint's ``message_document`` in the complaint's INSERT (the words of
its original message, whose body is the complaint's description), so the trigger of
``recovery_message`` (0036) skips the insert of a message when its words are all the
complaint's copy holds and no other message of the complaint exists: the copy is then
already what the append would make it. Every other insert appends as before. A complaint
row written twice more in its own transaction had cost a new row version and new entries in
every one of its indexes for each write.
"""

from importlib import import_module

from django.db import migrations

# The function as 0036 wrote it, to go back to.
PREVIOUS_FUNCTION = import_module(
    "recovery.migrations.0036_queue_covering_indexes_and_message_words"
).TRIGGER_FUNCTION

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION recovery_message_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE recovery_complaint c
           SET message_document = coalesce(c.message_document, ''::tsvector) || NEW.search_document
         WHERE c.id = NEW.complaint_id
           AND (c.message_document IS DISTINCT FROM NEW.search_document
                OR EXISTS (SELECT 1 FROM recovery_message m
                            WHERE m.complaint_id = NEW.complaint_id AND m.id <> NEW.id));
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


def skip_words_written_already(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_FUNCTION)


def append_every_message(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0037_category_changes")]

    operations = [migrations.RunPython(skip_words_written_already, append_every_message)]
