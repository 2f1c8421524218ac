"""The form that changes a complaint's regulatory regime (admin and desk)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from common.instant_fields import InstantField
from escalation.regulatory import PROFILE_CHOICES
from recovery.services.regulation import REASON_MAX_CHARS


class RegulationChangeForm(forms.Form):
    regulatory_profile = forms.ChoiceField(
        label=_("Regulatory profile"),
        choices=[("", _("None")), *PROFILE_CHOICES],
        required=False,
    )
    jurisdiction = forms.CharField(
        label=_("Jurisdiction"),
        max_length=16,
        required=False,
        help_text=_("e.g. GB-SCT, AU-VIC, US-CA; blank for the profile's default region"),
    )
    sent_to_company_at = InstantField(
        label=_("Sent to company at"),
        required=False,
        help_text=_("When a regulator sent the complaint on (CFPB), as YYYY-MM-DD HH:MM"),
    )
    reason = forms.CharField(label=_("Why"), widget=forms.Textarea, max_length=REASON_MAX_CHARS)

    def __init__(self, *args, complaint, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "regulatory_profile": complaint.regulatory_profile,
                "jurisdiction": complaint.jurisdiction,
                "sent_to_company_at": complaint.sent_to_company_at,
            },
        )
        super().__init__(*args, **kwargs)

    def changes(self) -> dict:
        return dict(self.cleaned_data)
