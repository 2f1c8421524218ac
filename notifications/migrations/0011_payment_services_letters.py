from django.db import migrations

SIGN_OFF = "\n\nKind regards,\nThe complaints team\n\nYour reference: {{ reference }}"
# PSD2 Art. 101(2)-(3): a reply on paper or another durable medium addressing all points
# raised, and at least one out-of-court (ADR) body competent for the dispute. Which body
# depends on the member state; firms name theirs in the template (admin: Message templates).
RESOLUTION = (
    "Dear {{ customer.name }},\n\nThis is our reply to your complaint about our payment "
    "services.\n\nOur decision: {{ outcome }}.\n\n{{ resolution_summary }}\n\nIf you are not "
    "satisfied with our reply, you can take your complaint to the out-of-court complaint and "
    "redress body for payment services that our terms and conditions name, free of charge, "
    "or complain to the authority that supervises us. You may also go to court." + SIGN_OFF
)


def add_letters(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    template_model.objects.get_or_create(
        kind="resolution",
        language="en",
        regulatory_profile="eu_psd2",
        defaults={
            "subject": "Our reply to your complaint {{ reference }}",
            "body_text": RESOLUTION,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0010_ireland_letters")]

    operations = [migrations.RunPython(add_letters, migrations.RunPython.noop)]
