from django.db import migrations

SIGN_OFF = "\n\nKind regards,\nThe complaints team\n\nYour reference: {{ reference }}"
FOS = (
    "\n\nIf you are not happy with our final response, you can refer your complaint to the "
    "Financial Ombudsman Service, Exchange Tower, London E14 9SR, www.financial-ombudsman.org.uk, "
    "0800 023 4567. You must do so within six months of the date of this final response; "
    "if you do not, the Ombudsman will not have our permission to consider your complaint "
    "and so will only be able to do so in very limited circumstances."
)
AFCA = (
    "\n\nIf you are not satisfied with our response, you may lodge a complaint with the "
    "Australian Financial Complaints Authority (AFCA), www.afca.org.au, 1800 931 678, "
    "GPO Box 3, Melbourne VIC 3001. Time limits may apply."
)
CFPB = (
    "\n\nYou can review our response and give feedback through the Consumer Financial "
    "Protection Bureau at www.consumerfinance.gov/complaint."
)

TEMPLATES = [
    (
        "acknowledgement",
        "",
        "We have received your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\n{{ message }}" + SIGN_OFF,
    ),
    (
        "holding",
        "",
        "An update on your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\n{{ message }}" + SIGN_OFF,
    ),
    (
        "resolution",
        "",
        "Our response to your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\nWe have finished looking into your complaint.\n\n"
        "Our decision: {{ outcome }}.\n\n{{ resolution_summary }}" + SIGN_OFF,
    ),
    (
        "loop_closing",
        "",
        "What we have done about your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\n{{ message }}" + SIGN_OFF,
    ),
    (
        "reply",
        "",
        "Re: your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\n{{ message }}" + SIGN_OFF,
    ),
    (
        "survey_invitation",
        "",
        "How did we handle your complaint {{ reference }}?",
        "Dear {{ customer.name }},\n\nWould you tell us how we did? It takes a minute." + SIGN_OFF,
    ),
    # Final responses under a regulatory profile must name the customer's referral rights.
    (
        "resolution",
        "uk_fca_disp",
        "Final response to your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\nThis is our final response to your complaint.\n\n"
        "Our decision: {{ outcome }}.\n\n{{ resolution_summary }}" + FOS + SIGN_OFF,
    ),
    (
        "resolution",
        "uk_fca_psd",
        "Final response to your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\nThis is our final response to your complaint.\n\n"
        "Our decision: {{ outcome }}.\n\n{{ resolution_summary }}" + FOS + SIGN_OFF,
    ),
    (
        "resolution",
        "au_asic_rg271",
        "Our IDR response to your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\nThis is our response to your complaint.\n\n"
        "Our decision: {{ outcome }}.\n\n{{ resolution_summary }}" + AFCA + SIGN_OFF,
    ),
    (
        "resolution",
        "us_cfpb",
        "Our response to your complaint {{ reference }}",
        "Dear {{ customer.name }},\n\nOur decision: {{ outcome }}.\n\n{{ resolution_summary }}"
        + CFPB
        + SIGN_OFF,
    ),
]


def add_templates(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    for kind, profile, subject, body in TEMPLATES:
        template_model.objects.get_or_create(
            kind=kind,
            language="en",
            regulatory_profile=profile,
            defaults={"subject": subject, "body_text": body},
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_delivery")]

    operations = [migrations.RunPython(add_templates, migrations.RunPython.noop)]
