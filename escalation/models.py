"""Business calendars, SLA policies, escalation ladders, and the clocks they set.

A clock's deadlines are absolute instants computed once (when it starts, resumes or is
re-targeted) from its calendar; the sweeper then only compares them with ``now`` through the
partial indexes below, so the cost of a sweep follows what is due, not what is open.
"""

from datetime import date, time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from escalation import calendars


class BusinessCalendar(models.Model):
    """Opening hours in a time zone, with public holidays and custom closures.

    ``weekly_hours`` is ``{"0": [["09:00", "12:30"], ["13:30", "17:30"]], ...}`` with weekday
    0 = Monday and ``"24:00"`` for an interval that runs to midnight.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    always_open = models.BooleanField(_("open 24x7"), default=False)
    weekly_hours = models.JSONField(_("weekly hours"), default=dict, blank=True)
    holiday_country = models.CharField(
        _("public holidays of"), max_length=8, blank=True, help_text=_("ISO code, e.g. GB")
    )
    holiday_subdivision = models.CharField(
        _("subdivision"), max_length=16, blank=True, help_text=_("e.g. ENG, NY, NSW")
    )
    extra_holidays = models.JSONField(
        _("extra closed dates"), default=list, blank=True, help_text=_('["2026-12-24", ...]')
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Check each setting on its own, so that the form names the field at fault.

        The closures are not read: a calendar being added has none saved yet, and each
        closure checks itself.
        """
        errors = {}
        try:
            calendars.BusinessCalendar(tz=self.time_zone)
        except ValueError:
            errors["time_zone"] = _(
                "Unknown time zone “%(zone)s”; use an IANA name such as Europe/London."
            ) % {"zone": self.time_zone}
        try:
            hours = calendars.BusinessCalendar(weekly=_weekly(self.weekly_hours))
        except (ValueError, TypeError) as exc:
            errors["weekly_hours"] = _("Weekly hours: %(problem)s.") % {"problem": exc}
        else:
            # Deadline arithmetic needs open time somewhere in the week.
            if not self.always_open and not any(hours.weekly.values()):
                errors["weekly_hours"] = _(
                    "Give opening hours for at least one weekday, or make the calendar open 24x7."
                )
        try:
            _extra_closed_dates(self.extra_holidays)
        except (ValueError, TypeError) as exc:
            errors["extra_holidays"] = _("Extra closed dates: %(problem)s.") % {"problem": exc}
        errors.update(self._holiday_errors())
        if errors:
            raise ValidationError(errors)

    def _holiday_errors(self) -> dict[str, str]:
        country, subdivision = self.holiday_country, self.holiday_subdivision
        if not country:
            if subdivision:
                return {"holiday_subdivision": _("Give the country this subdivision is in.")}
            return {}
        years = (timezone.now().year,)
        # The holidays package answers NotImplementedError for a country or subdivision it
        # does not know; the country is tried alone first to tell the two apart.
        try:
            _public_holidays(country, None, years)
        except NotImplementedError:
            return {
                "holiday_country": _(
                    "No public holidays are known for “%(country)s”; use an ISO 3166 code "
                    "such as GB, US or DE."
                )
                % {"country": country}
            }
        if subdivision:
            try:
                _public_holidays(country, subdivision, years)
            except NotImplementedError:
                return {
                    "holiday_subdivision": _(
                        "%(country)s has no subdivision “%(subdivision)s” with holidays of its own."
                    )
                    % {"country": country, "subdivision": subdivision}
                }
        return {}

    def to_pure(self, *, years) -> calendars.BusinessCalendar:
        """The pure calendar for deadline arithmetic, with holidays of ``years`` loaded."""
        holidays = set(_extra_closed_dates(self.extra_holidays))
        if self.holiday_country:
            holidays |= _public_holidays(
                self.holiday_country, self.holiday_subdivision or None, tuple(sorted(years))
            )
        closures = tuple((closure.starts_at, closure.ends_at) for closure in self.closures.all())
        return calendars.BusinessCalendar(
            tz=self.time_zone,
            always_open=self.always_open,
            weekly=_weekly(self.weekly_hours),
            holidays=frozenset(holidays),
            closures=closures,
        )


@lru_cache(maxsize=128)
def _public_holidays(country: str, subdivision: str | None, years: tuple[int, ...]):
    # Building a country's holiday table is the slow part of a calendar; it never changes
    # for a given year, so it is computed once per process.
    return calendars.holidays_for(country, subdivision, years)


def _weekly(value) -> dict[int, tuple]:
    """``weekly_hours`` as the pure calendar takes it; the calendar checks the intervals."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError('expected {"0": [["09:00", "17:00"]], ...} with 0 = Monday')
    weekly = {}
    for day, intervals in value.items():
        # Keys are strings once stored as JSON; a calendar built in code may use numbers.
        if not (isinstance(day, int) or (isinstance(day, str) and day.isdigit())):
            raise ValueError(f"weekday {day!r} is not a number from 0 (Monday) to 6 (Sunday)")
        if not isinstance(intervals, list | tuple) or not all(
            isinstance(pair, list | tuple) and len(pair) == 2 for pair in intervals
        ):
            raise ValueError(f'weekday {day}: expected a list of pairs like [["09:00", "17:00"]]')
        weekly[int(day)] = tuple((_parse_time(a), _parse_time(b)) for a, b in intervals)
    return weekly


def _extra_closed_dates(value) -> frozenset[date]:
    if not isinstance(value, list):
        raise ValueError('expected a list of dates like ["2026-12-24"]')
    return frozenset(_parse_date(day) for day in value)


def _parse_time(value: str) -> time | None:
    if value in ("24:00", "24:00:00"):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time like 09:00")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time like 09:00") from None


def _parse_date(value: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date like 2026-12-24")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2026-12-24") from None


class CalendarClosure(models.Model):
    """An extra closed period: an office move, a strike, a system outage."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="closures"
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="closure_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.calendar}: {self.starts_at:%Y-%m-%d %H:%M} - {self.ends_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        # The constraint's own message names only the constraint; say what is wrong.
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("A closure must end after it starts.")})


class ClockKind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", _("Acknowledge")
    RESPOND = "respond", _("Respond to the customer")
    RESOLVE = "resolve", _("Resolve")
    CLOSE_LOOP = "close_loop", _("Close the loop")
    # Regulatory milestones that have their own deadline (docs/regulatory-profiles.md).
    SUMMARY_RESOLUTION = "summary_resolution", _("Summary resolution")
    INITIAL_RESPONSE = "initial_response", _("Initial response")
    # Restarted by every message to the customer while the complaint is open.
    CUSTOMER_UPDATE = "customer_update", _("Update the customer")


class TimeBasis(models.TextChoices):
    BUSINESS = "business", _("Business time")
    CALENDAR = "calendar", _("Calendar time")


class EscalationLadder(models.Model):
    """Who hears about a breach, in order, and how long each level waits for the next."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    # Used by clocks whose policy names no ladder, and by regulatory-profile clocks.
    is_default = models.BooleanField(_("default ladder"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_ladder",
            )
        ]

    def __str__(self) -> str:
        return self.name


class EscalationTarget(models.TextChoices):
    TEAM_SUPERVISOR = "team_supervisor", _("Team supervisor")
    COMPLAINTS_MANAGER = "complaints_manager", _("Complaints manager")
    HEAD_OF_CX = "head_of_cx", _("Head of customer experience")


class EscalationLevel(models.Model):
    ladder = models.ForeignKey(EscalationLadder, on_delete=models.CASCADE, related_name="levels")
    level = models.PositiveSmallIntegerField(_("level"))
    target = models.CharField(_("escalate to"), max_length=32, choices=EscalationTarget.choices)
    # Business seconds this level has before the next one takes over if still unresolved.
    seconds_to_next = models.PositiveIntegerField(
        _("business seconds to next level"), null=True, blank=True
    )
    reassign = models.BooleanField(_("reassign to the escalation owner"), default=False)

    class Meta:
        ordering = ["ladder", "level"]
        constraints = [
            models.UniqueConstraint(fields=["ladder", "level"], name="ladder_level_unique"),
            models.CheckConstraint(condition=models.Q(level__gte=1), name="level_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.ladder} L{self.level} → {self.get_target_display()}"


class SlaPolicy(models.Model):
    """Targets for a kind of complaint; policies are tried in ``position`` order, first wins.

    An empty match list means "any". Changing a policy affects clocks started afterwards
    only: a clock keeps the policy, calendar and target it started with.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    ladder = models.ForeignKey(
        EscalationLadder, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channels = models.JSONField(_("channels"), default=list, blank=True)
    categories = models.JSONField(_("category slugs"), default=list, blank=True)
    severities = models.JSONField(_("severities"), default=list, blank=True)
    priorities = models.JSONField(_("priorities"), default=list, blank=True)
    segments = models.JSONField(_("customer segments"), default=list, blank=True)
    jurisdictions = models.JSONField(_("jurisdictions"), default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Each match list is a JSON list of known values: a bare string or a typo would
        match nothing (or, as a string, match by substring) and silently misroute."""
        from escalation import regulatory
        from recovery.models import Category, Channel, Priority, Severity

        known = {
            "channels": set(Channel.values),
            "severities": set(Severity.values),
            "priorities": set(Priority.values),
            "categories": set(Category.objects.values_list("slug", flat=True)),
        }
        errors = {}
        for name in (
            "channels",
            "categories",
            "severities",
            "priorities",
            "segments",
            "jurisdictions",
        ):
            values = getattr(self, name)
            if not isinstance(values, list) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                errors[name] = _('A JSON list of codes, e.g. ["%(example)s"], or [] for any.') % {
                    "example": min(known[name]) if known.get(name) else "GB-SCT"
                }
                continue
            if name in known:
                unknown = [v for v in values if v not in known[name]]
                if unknown:
                    errors[name] = _("Unknown: %(unknown)s. Known: %(known)s.") % {
                        "unknown": ", ".join(unknown),
                        "known": ", ".join(sorted(known[name])),
                    }
            elif name == "jurisdictions":
                unknown = [v for v in values if not regulatory.is_known_jurisdiction(v)]
                if unknown:
                    errors[name] = _(
                        "Unknown: %(unknown)s. Use region codes such as GB-SCT or AU-VIC, or "
                        "ISO 3166 codes such as GB, FR or US-CA."
                    ) % {"unknown": ", ".join(unknown)}
        if errors:
            raise ValidationError(errors)


class SlaTarget(models.Model):
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    clock = models.CharField(_("clock"), max_length=32, choices=ClockKind.choices)
    # A target of 0 would breach every matching complaint the moment it arrives.
    seconds = models.PositiveIntegerField(_("target (seconds)"), validators=[MinValueValidator(1)])
    basis = models.CharField(
        _("time basis"), max_length=16, choices=TimeBasis.choices, default=TimeBasis.BUSINESS
    )
    warn_at_percent = models.PositiveSmallIntegerField(
        _("warn at % elapsed"), null=True, blank=True, default=80
    )
    warn_seconds_before = models.PositiveIntegerField(
        _("warn seconds before due"), null=True, blank=True
    )
    pausable = models.BooleanField(_("pauses while awaiting the customer"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "clock"], name="sla_target_unique"),
            models.CheckConstraint(
                condition=models.Q(warn_at_percent__isnull=True)
                | models.Q(warn_at_percent__lte=100),
                name="warn_percent_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.clock} in {self.seconds}s ({self.basis})"


class ClockState(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    BREACHED = "breached", _("Breached")
    CANCELLED = "cancelled", _("Cancelled")


class Clock(models.Model):
    """One SLA timer of one complaint.

    ``state`` is *running* until the deadline or the stopping event, whichever is first:
    stopped in time → *met*; deadline passed → *breached* (and ``stopped_at`` is set when the
    late event finally happens). *paused* keeps ``business_seconds_left``.
    """

    complaint = models.ForeignKey(
        "recovery.Complaint", on_delete=models.CASCADE, related_name="clocks"
    )
    kind = models.CharField(_("clock"), max_length=32, choices=ClockKind.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=ClockState.choices, default=ClockState.RUNNING
    )
    # Where the target came from: an internal target of a policy, or a statutory obligation
    # of a regulatory profile (with the rule it comes from and the region it counts in).
    # The two never replace each other: a complaint may have both for one kind.
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    regulatory_profile = models.CharField(_("regulatory profile"), max_length=50, blank=True)
    rule = models.CharField(_("statutory rule"), max_length=100, blank=True)
    jurisdiction = models.CharField(_("counted in"), max_length=16, blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ladder = models.ForeignKey(
        EscalationLadder, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    basis = models.CharField(_("time basis"), max_length=16, choices=TimeBasis.choices)
    target_seconds = models.PositiveIntegerField(_("target (seconds)"))
    pausable = models.BooleanField(_("pausable"), default=True)
    escalates = models.BooleanField(_("escalates when breached"), default=True)
    started_at = models.DateTimeField(_("started at"))
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    warn_at = models.DateTimeField(_("warn at"), null=True, blank=True)
    warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    seconds_left_when_paused = models.FloatField(_("time left when paused"), null=True, blank=True)
    seconds_to_warn_when_paused = models.FloatField(
        _("time to warning when paused"), null=True, blank=True
    )
    paused_seconds = models.FloatField(_("time spent paused"), default=0)
    # Restarting a stopped clock (a reopened complaint, a new customer message) begins a new
    # cycle, so the ladder can fire again for the new deadline and only once for each.
    cycle = models.PositiveSmallIntegerField(_("cycle"), default=1)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    next_escalation_at = models.DateTimeField(_("next escalation at"), null=True, blank=True)
    # Set when processing this row raised: the sweeper skips it until then (see sweeper).
    retry_after = models.DateTimeField(_("retry after"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("processing failures"), default=0)

    class Meta:
        ordering = ["complaint", "started_at"]
        constraints = [
            # One internal target and one statutory obligation per kind, side by side.
            models.UniqueConstraint(
                fields=["complaint", "kind"],
                condition=models.Q(regulatory_profile=""),
                name="internal_clock_per_kind_unique",
            ),
            models.UniqueConstraint(
                fields=["complaint", "kind"],
                condition=~models.Q(regulatory_profile=""),
                name="statutory_clock_per_kind_unique",
            ),
        ]
        indexes = [
            # Sweeper, breaches: running clocks WHERE due_at <= now ORDER BY due_at.
            models.Index(
                fields=["due_at"],
                condition=models.Q(state="running"),
                name="clock_running_due_idx",
            ),
            # Sweeper, warnings: running, not yet warned, WHERE warn_at <= now.
            models.Index(
                fields=["warn_at"],
                condition=models.Q(state="running", warned_at__isnull=True),
                name="clock_running_warn_idx",
            ),
            # The desk's at-risk filter and the board: running clocks already warned, WHERE
            # warn_at <= now (the not yet warned are read through the sweeper's index above).
            models.Index(
                fields=["warn_at"],
                condition=models.Q(state="running", warned_at__isnull=False),
                name="clock_running_warned_idx",
            ),
            # Sweeper, next ladder level: breached, still unanswered, next_escalation_at <= now.
            models.Index(
                fields=["next_escalation_at"],
                condition=models.Q(state="breached", stopped_at__isnull=True),
                name="clock_next_escalation_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.kind} {self.state}"

    @property
    def statutory(self) -> bool:
        return bool(self.regulatory_profile)


class Escalation(models.Model):
    """A step up (or down) the ladder: who, when, level, which clock, why."""

    complaint = models.ForeignKey(
        "recovery.Complaint", on_delete=models.CASCADE, related_name="escalations"
    )
    clock = models.ForeignKey(
        Clock, on_delete=models.SET_NULL, null=True, blank=True, related_name="escalations"
    )
    clock_cycle = models.PositiveSmallIntegerField(_("clock cycle"), null=True, blank=True)
    level = models.PositiveSmallIntegerField(_("level"))
    previous_level = models.PositiveSmallIntegerField(_("previous level"))
    target = models.CharField(_("escalated to"), max_length=32, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    manual = models.BooleanField(_("by hand"), default=False)
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # An automatic escalation to a level happens once per clock: the database itself
            # refuses a second, whatever the sweepers do.
            models.UniqueConstraint(
                fields=["clock", "clock_cycle", "level"],
                condition=models.Q(manual=False),
                name="automatic_escalation_once_per_level",
            )
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} L{self.previous_level}→L{self.level}"


class ConfigurationVersion(models.Model):
    """One row whose token changes with every change to rarely changed configuration
    (policies, calendars, ladders, routing rules, teams, taxonomy, role permissions).

    Each process keeps that configuration in memory (``escalation.configuration``) and reads
    this row at most once per request or task to know whether its copy is still current.
    """

    token = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"configuration version {self.token}"
