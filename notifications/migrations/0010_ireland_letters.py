from django.db import migrations

SIGN_OFF = "\n\nKind regards,\nThe complaints team\n\nYour reference: {{ reference }}"
FSPO = (
    "Financial Services and Pensions Ombudsman, Lincoln House, Lincoln Place, Dublin 2, "
    "D02 VH29, www.fspo.ie, +353 1 567 7000, info@fspo.ie"
)
# CPC 2012 Provision 10.9(e): the outcome, the terms of any offer, that the consumer can refer
# the matter to the Ombudsman, and the Ombudsman's contact details.
RESOLUTION = (
    "Dear {{ customer.name }},\n\nWe have completed our investigation of your complaint.\n\n"
    "The outcome: {{ outcome }}.\n\n{{ resolution_summary }}\n\nIf you are not satisfied with "
    "our response, you can refer your complaint to the " + FSPO + ". It is independent and "
    "free of charge." + SIGN_OFF
)
# 10.9(d): once the 40 business days have passed, the anticipated timeframe (the agent's
# words, in {{ message }}), the right to refer the matter to the Ombudsman and its details.
DELAY = (
    "Dear {{ customer.name }},\n\nWe are sorry: we have not been able to resolve your "
    "complaint within 40 business days.\n\n{{ message }}\n\nYou can refer your complaint to "
    "the " + FSPO + " now. It is independent and free of charge." + SIGN_OFF
)


def add_letters(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    templates = [
        ("resolution", "Our response to your complaint {{ reference }}", RESOLUTION),
        ("delay_notification", "Your complaint {{ reference }}: our response is delayed", DELAY),
    ]
    for kind, subject, body in templates:
        template_model.objects.get_or_create(
            kind=kind,
            language="en",
            regulatory_profile="ie_cbi_cpc",
            defaults={"subject": subject, "body_text": body},
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0009_delay_notification")]

    operations = [migrations.RunPython(add_letters, migrations.RunPython.noop)]
