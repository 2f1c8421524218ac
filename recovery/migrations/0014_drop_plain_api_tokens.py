"""Drop DRF's plain-text token table: API tokens are django-rest-knox's hashed ones now.

Existing tokens cannot be carried over (knox keeps a hash of a secret we would have to
re-issue anyway), so their holders ask for a new one (docs/security.md).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0013_statutory_letters_and_held_email_events"),
    ]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop
        ),
    ]
