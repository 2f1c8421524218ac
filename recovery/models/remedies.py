"""Recovery actions (what was done to put things right), approval limits and the guide."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from recovery import currencies
from recovery.models.complaints import Complaint, RootCause, Severity

CURRENCY_VALIDATOR = RegexValidator(
    r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 currency code, such as GBP.")
)
# An ApprovalLimit row with this currency applies to every currency: only sensible for
# unlimited authority, since 50 of one currency is not 50 of another.
ANY_CURRENCY = "*"
# How an amount is written for people ("refund £80.00"); other currencies by their code
# ("refund 80.00 JPY"), which nobody misreads.
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


class RecoveryType(models.TextChoices):
    APOLOGY = "apology", _("Apology")
    EXPLANATION = "explanation", _("Explanation")
    FIX = "fix", _("Fix or redo")
    REPLACEMENT = "replacement", _("Replacement")
    REFUND = "refund", _("Refund")
    ACCOUNT_CREDIT = "account_credit", _("Account credit")
    GOODWILL = "goodwill", _("Goodwill gesture")
    OTHER = "other", _("Other")


# Types that move money: an amount and currency are required.
MONETARY_TYPES = frozenset(
    {RecoveryType.REFUND, RecoveryType.ACCOUNT_CREDIT, RecoveryType.GOODWILL}
)
# Types that may carry a cost (a replacement's value, a fix's cost) but need not.
COSTED_TYPES = MONETARY_TYPES | {RecoveryType.REPLACEMENT, RecoveryType.FIX, RecoveryType.OTHER}


class RecoveryStatus(models.TextChoices):
    # Offered within the proposer's own authority: no approval needed.
    PROPOSED = "proposed", _("Proposed")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    DELIVERED = "delivered", _("Delivered")


class RecoveryAction(models.Model):
    """One remedy for one complaint, with its approval trail.

    The transitions below declare the approval flow; ``recovery.services.remedies`` runs them
    (locking, authority checks, timeline).
    """

    complaint = models.ForeignKey(
        Complaint, on_delete=models.PROTECT, related_name="recovery_actions"
    )
    type = models.CharField(_("type"), max_length=20, choices=RecoveryType.choices)
    amount = models.DecimalField(
        _("amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, validators=[CURRENCY_VALIDATOR]
    )
    description = models.TextField(_("description"), blank=True)
    status = FSMField(
        _("status"),
        max_length=20,
        choices=RecoveryStatus.choices,
        default=RecoveryStatus.PROPOSED,
        protected=True,
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    # The role whose members may decide (the lowest role whose limit covers the amount).
    approver_role = models.CharField(_("approver role"), max_length=32, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    delivered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # What the recovery guide suggested when this was proposed, and why the agent differed.
    suggested = models.JSONField(_("suggested by the guide"), null=True, blank=True)
    deviation_reason = models.TextField(_("reason for deviating from the guide"), blank=True)

    class Meta:
        ordering = ["proposed_at", "id"]
        permissions = [
            ("propose_recoveryaction", "Can propose a recovery action"),
            ("decide_recoveryaction", "Can approve or decline recovery actions"),
        ]
        indexes = [
            # The approvals queue: WHERE status = 'awaiting_approval' AND approver_role IN ...
            models.Index(
                fields=["approver_role", "proposed_at"],
                condition=models.Q(status="awaiting_approval"),
                name="recovery_awaiting_idx",
            ),
            # Recovery cost per complaint / root cause in the insights (JOIN on complaint).
            models.Index(fields=["complaint", "status"], name="recovery_complaint_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0),
                name="recovery_amount_not_negative",
            ),
            # Money without a currency (or a currency without money) means nothing.
            models.CheckConstraint(
                condition=(models.Q(amount__isnull=True) & models.Q(currency=""))
                | (models.Q(amount__isnull=False) & ~models.Q(currency="")),
                name="recovery_amount_has_currency",
            ),
        ]

    def __str__(self) -> str:
        if self.amount is None:
            return self.get_type_display()
        return f"{self.get_type_display()} {self.written_amount} {self.currency}"

    @property
    def is_monetary(self) -> bool:
        return self.amount is not None

    @property
    def label(self) -> str:
        """The remedy as a person names it: "refund £80.00", "apology"."""
        kind = self.get_type_display().lower()
        if self.amount is None:
            return kind
        symbol = CURRENCY_SYMBOLS.get(self.currency)
        amount = self.written_amount
        return f"{kind} {symbol}{amount}" if symbol else f"{kind} {amount} {self.currency}"

    @property
    def written_amount(self) -> str:
        """The amount with its currency's decimals: "1200" yen, "80.00" pounds."""
        return "" if self.amount is None else currencies.written(self.amount, self.currency)

    # -- the approval flow -------------------------------------------------------------

    @transition(
        field=status, source=RecoveryStatus.PROPOSED, target=RecoveryStatus.AWAITING_APPROVAL
    )
    def request_approval(self) -> None:
        """Above the proposer's limit: wait for someone with the authority."""

    @transition(
        field=status, source=RecoveryStatus.AWAITING_APPROVAL, target=RecoveryStatus.APPROVED
    )
    def approve(self) -> None:
        """An approver with enough authority said yes."""

    @transition(
        field=status, source=RecoveryStatus.AWAITING_APPROVAL, target=RecoveryStatus.DECLINED
    )
    def decline(self) -> None:
        """An approver said no, with a reason."""

    @transition(
        field=status,
        source=[RecoveryStatus.PROPOSED, RecoveryStatus.APPROVED],
        target=RecoveryStatus.DELIVERED,
    )
    def deliver(self) -> None:
        """The refund was paid, the replacement sent, the apology made."""


class ApprovalLimit(models.Model):
    """The largest recovery a role may grant without approval, in one currency.

    No row for a role and currency means no authority in that currency; an empty amount means
    unlimited. Editable in the admin; the defaults come from a data migration.
    """

    role = models.CharField(_("role"), max_length=32)
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(
        _("limit"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Leave empty for unlimited authority."),
    )

    class Meta:
        ordering = ["role", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["role", "currency"], name="approval_limit_unique"),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | ~models.Q(currency=ANY_CURRENCY),
                name="approval_limit_any_currency_unlimited",
            ),
        ]

    def __str__(self) -> str:
        limit = _("unlimited") if self.amount is None else f"{self.amount} {self.currency}"
        return f"{self.role}: {limit}"


class RecoveryGuideline(models.Model):
    """The usual remedy for a root cause (and severity), so similar customers are treated alike.

    The guide for a complaint is the row of its primary root cause or the nearest ancestor,
    matching its severity before the any-severity row.
    """

    root_cause = models.ForeignKey(RootCause, on_delete=models.CASCADE, related_name="guidelines")
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, blank=True)
    type = models.CharField(_("type"), max_length=20, choices=RecoveryType.choices)
    amount = models.DecimalField(
        _("amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, validators=[CURRENCY_VALIDATOR]
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["root_cause", "severity"]
        constraints = [
            models.UniqueConstraint(
                fields=["root_cause", "severity", "currency"], name="recovery_guideline_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.root_cause}: {self.get_type_display()}"
