from django.db import migrations

SIGN_OFF = "\n\nKind regards,\nThe complaints team\n\nYour reference: {{ reference }}"
CFPB = (
    "\n\nYou can also submit a complaint to the Consumer Financial Protection Bureau at "
    "www.consumerfinance.gov/complaint."
)
# 12 CFR 1005.11(d): after an investigation that finds no error (or a different one), the
# right to the documents relied on, and, where the account was provisionally credited, how
# the credit is debited and the five business days of honouring payments.
REG_E = (
    "Dear {{ customer.name }},\n\nWe have finished investigating the error you reported.\n\n"
    "Our decision: {{ outcome }}.\n\n{{ resolution_summary }}\n\nIf we found that no error "
    "occurred, or a different error from the one you described, you may ask us for copies of "
    "the documents we relied on. If we had provisionally credited your account, we will tell "
    "you the date and amount of any debit of that credit, and for five business days after "
    "that notice we will honour, without charge, checks, drafts and preauthorized transfers "
    "from your account up to the amount of the credit." + CFPB + SIGN_OFF
)
# 12 CFR 1026.13(e)-(f): the correction, or the reasons no billing error occurred and the
# right to documentary evidence of the debt.
REG_Z = (
    "Dear {{ customer.name }},\n\nWe have finished looking into the billing error you "
    "reported.\n\nOur decision: {{ outcome }}.\n\n{{ resolution_summary }}\n\nIf we found "
    "that no billing error occurred, or a different one, this letter gives our reasons, and you "
    "may ask us for copies of the documentary evidence of what you owe. We will tell you of any "
    "amount you still owe and when it must be paid." + CFPB + SIGN_OFF
)
PROFILES = {
    "us_reg_e": REG_E,
    "us_reg_e_pos_foreign": REG_E,
    "us_reg_e_new_account": REG_E,
    "us_reg_z": REG_Z,
}


def add_letters(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    for profile, body in PROFILES.items():
        template_model.objects.get_or_create(
            kind="resolution",
            language="en",
            regulatory_profile=profile,
            defaults={
                "subject": "The result of our investigation {{ reference }}",
                "body_text": body,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0011_payment_services_letters")]

    operations = [migrations.RunPython(add_letters, migrations.RunPython.noop)]
