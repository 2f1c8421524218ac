from django.db import migrations


class Migration(migrations.Migration):
    """A template's HTML part is made from its text (notifications.email_html): two wordings
    to edit drifted apart, and the shipped templates never had an HTML body. An HTML body
    someone wrote is dropped with the column; its email keeps its text, now also as HTML."""

    dependencies = [
        ("notifications", "0012_us_error_resolution_letters"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="messagetemplate",
            name="body_html",
        ),
    ]
