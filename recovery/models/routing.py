"""Who takes a new complaint (routing rules), and the alert when nobody picks it up."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Category, Channel, Complaint, Team

# The match lists of a rule, in the order the admin shows them; an empty list means "any".
MATCH_FIELDS = (
    "channels",
    "categories",
    "products",
    "keywords",
    "regulatory_profiles",
    "segments",
)
# A keyword longer than this is a sentence pasted by mistake, not a word to look for.
KEYWORD_MAX_CHARS = 100


class RoutingRule(models.Model):
    """Sends new complaints that match to a team; rules are tried by ``position``, first wins.

    Every list given must match (an empty list matches anything); within a list, any value
    does. Keywords are whole words or phrases, in any case, looked for in the subject and
    the description. A complaint no active rule matches goes to the triage team. Changing a
    rule affects complaints received afterwards only.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="routing_rules", verbose_name=_("team")
    )
    channels = models.JSONField(
        _("channels"), default=list, blank=True, help_text=_('For example ["email", "web"].')
    )
    categories = models.JSONField(
        _("category slugs"), default=list, blank=True, help_text=_('For example ["cards"].')
    )
    products = models.JSONField(
        _("products"),
        default=list,
        blank=True,
        help_text=_('The complaint\'s product, in any case: ["Credit card"].'),
    )
    keywords = models.JSONField(
        _("keywords"),
        default=list,
        blank=True,
        help_text=_('Whole words or phrases in the subject or description: ["refund"].'),
    )
    regulatory_profiles = models.JSONField(
        _("regulatory profiles"),
        default=list,
        blank=True,
        help_text=_('Profile codes, such as ["uk_fca_disp"].'),
    )
    segments = models.JSONField(
        _("customer segments"),
        default=list,
        blank=True,
        help_text=_('The customer\'s segment, in any case: ["VIP"].'),
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Each list is a JSON list of known values: a bare string or a typo would match
        nothing, and silently send complaints to triage instead of the team meant."""
        from escalation import regulatory

        known = {
            "channels": set(Channel.values),
            "categories": set(Category.objects.values_list("slug", flat=True)),
            "regulatory_profiles": set(regulatory.PROFILES),
        }
        errors = {}
        for name in MATCH_FIELDS:
            values = getattr(self, name)
            if not isinstance(values, list) or not all(
                isinstance(value, str) and value.strip() for value in values
            ):
                example = min(known[name]) if known.get(name) else "refund"
                errors[name] = _('A JSON list of texts, e.g. ["%(example)s"], or [] for any.') % {
                    "example": example
                }
                continue
            if name in known:
                unknown = [value for value in values if value not in known[name]]
                if unknown:
                    errors[name] = _("Unknown: %(unknown)s. Known: %(known)s.") % {
                        "unknown": ", ".join(unknown),
                        "known": ", ".join(sorted(known[name])) or _("none yet"),
                    }
            elif name == "keywords":
                long = [value for value in values if len(value) > KEYWORD_MAX_CHARS]
                if long:
                    errors[name] = _("Keep each keyword under %(n)s characters.") % {
                        "n": KEYWORD_MAX_CHARS
                    }
                elif not all(re.search(r"\w", value) for value in values):
                    errors[name] = _("Each keyword needs at least one letter or digit.")
        if errors:
            raise ValidationError(errors)


class UnpickedAlert(models.Model):
    """Supervisors were told that nobody picked this complaint up; at most one per complaint.

    The unique complaint is the claim that makes the periodic check exactly once: two runs
    that find the same complaint both insert its row, and only one insert succeeds
    (``recovery.services.unpicked``).
    """

    complaint = models.OneToOneField(
        Complaint, on_delete=models.CASCADE, related_name="unpicked_alert"
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    # The run that inserted the row: it reads back the rows carrying its claim as its own.
    claim = models.UUIDField(_("claim"))

    class Meta:
        ordering = ["-raised_at"]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.raised_at:%Y-%m-%d %H:%M}"
