from django.db import migrations

# Shown only while a complaint was filed under an existing customer's address by someone who
# has not proven it (recovery.services.address_proof): the receipt goes to the address, and
# its owner confirms here that the complaint is theirs.
CONFIRMATION = (
    "{% if confirm_url %}\n\nWe already hold a customer record under this email address. If "
    "you made this complaint, confirm it is yours so that we can add it to your record "
    "(the link works once, for 14 days):\n{{ confirm_url }}\n\nIf you did not make this "
    "complaint, ignore this link and reply to this email: it stays apart from your record."
    "{% endif %}"
)
SIGN_OFF = "\n\nKind regards,"


def add_confirmation_link(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    # Every receipt gains the paragraph, edited ones too (before their sign-off, or at the
    # end): without it the owner of the address could never confirm a complaint.
    for template in template_model.objects.filter(kind="receipt"):
        if "confirm_url" in template.body_text:
            continue
        body = template.body_text
        head, found, tail = body.rpartition(SIGN_OFF)
        template.body_text = (
            f"{head}{CONFIRMATION}{found}{tail}" if found else f"{body}{CONFIRMATION}"
        )
        template.save(update_fields=["body_text"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0019_tracking_link_template"),
        ("recovery", "0023_customer_address_proof"),
    ]

    operations = [
        migrations.RunPython(add_confirmation_link, migrations.RunPython.noop),
    ]
