"""What an insight is asked about: the period, the filters and each table's own options.

One set of serializers validates the query string of both the API and the pages, strictly:
a repeated parameter, a malformed date or an unknown choice is a 400 that says which
parameter and what would be accepted. The API refuses an unknown parameter too (a typo in a
client); a page ignores it, as links carry tracking tags a mail client adds (``utm_source``).
Each field has the label its page's form shows, and the messages name fields by it.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from common.errors import ValidationFailed
from common.rest.fields import StrictSerializer
from recovery.models import Channel, RootCause, Team, Touchpoint

# The default period: the last 90 days, today included.
DEFAULT_DAYS = 90
# Longest period one request may cover. The queries are sized (and benchmarked) for a year
# over a million complaints; two years keeps year-on-year views possible at twice the cost.
MAX_DAYS = 731
# Dates outside these years are typing mistakes, and beyond year 9999 Python overflows.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)

DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class Scope:
    """The complaints an insight looks at: received in ``[start, end]`` (local dates) and
    matching every filter that is set."""

    start: date
    end: date
    product: str = ""
    channel: str = ""
    # Slugs as asked (shown, and put back in links) and the ids they name (queried, so the
    # filter needs no join to the touchpoint or team table).
    touchpoint: str = ""
    team: str = ""
    touchpoint_id: int | None = None
    team_id: int | None = None

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return local_midnight(self.end + timedelta(days=1))

    @property
    def filters(self) -> dict[str, str]:
        return {
            name: value
            for name, value in (
                ("product", self.product),
                ("channel", self.channel),
                ("touchpoint", self.touchpoint),
                ("team", self.team),
            )
            if value
        }

    def column_filters(self) -> list[tuple[str, str, object]]:
        """The filters that are set, as (name, complaint column, value): what the ORM, the
        summaries and their raw SQL all filter complaints by."""
        return [
            (name, column, value)
            for name, column, value in (
                ("product", "product", self.product or None),
                ("channel", "channel", self.channel or None),
                ("touchpoint", "touchpoint_id", self.touchpoint_id),
                ("team", "team_id", self.team_id),
            )
            if value is not None
        ]

    def complaint_q(self, prefix: str = "", *, since=None, until=None) -> Q:
        """The scope as a filter on complaints, reached through ``prefix`` (``complaint__``)."""
        q = Q(
            **{
                f"{prefix}received_at__gte": since or self.since,
                f"{prefix}received_at__lt": until or self.until,
            }
        )
        for _name, column, value in self.column_filters():
            q &= Q(**{f"{prefix}{column}": value})
        return q

    def query_string(self) -> dict[str, str]:
        """The scope as query parameters (links between pages, CSV links)."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), **self.filters}


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def _choice(name: str, choices, label=None) -> serializers.ChoiceField:
    values = [value for value, _label in choices]
    return serializers.ChoiceField(
        choices=choices,
        required=False,
        label=label,
        error_messages={
            "invalid_choice": format_lazy(
                _("{name} must be one of: {values}."),
                name=label or name,
                values=", ".join(values),
            )
        },
    )


def _date(label) -> serializers.DateField:
    return serializers.DateField(
        required=False,
        label=label,
        input_formats=[DATE_FORMAT],
        error_messages={"invalid": _("Give a date as YYYY-MM-DD, such as 2026-01-31.")},
    )


class ScopeQuery(StrictSerializer):
    """``start``/``end`` (inclusive local dates) and the filters every insight accepts."""

    # The labels are the form's (templates/insights/_scope_fields.html).
    start = _date(_("From"))
    end = _date(_("To"))
    product = serializers.CharField(required=False, max_length=200, label=_("Product"))
    channel = _choice("channel", Channel.choices, _("Channel"))
    touchpoint = serializers.SlugField(required=False, max_length=100, label=_("Touchpoint"))
    team = serializers.SlugField(required=False, max_length=100, label=_("Team"))
    # DRF's own switch between JSON and CSV (``?format=csv``).
    format = _choice("format", [("json", "JSON"), ("csv", "CSV")])

    def validate_touchpoint(self, value: str) -> tuple[str, int]:
        found = Touchpoint.objects.filter(slug=value).values_list("pk", flat=True).first()
        if found is None:
            raise serializers.ValidationError(format_lazy(_("No touchpoint {slug!r}."), slug=value))
        return value, found

    def validate_team(self, value: str) -> tuple[str, int]:
        found = Team.objects.filter(slug=value).values_list("pk", flat=True).first()
        if found is None:
            raise serializers.ValidationError(format_lazy(_("No team {slug!r}."), slug=value))
        return value, found

    def validate(self, attrs):
        today = timezone.localdate()
        end = attrs.get("end") or today
        start = attrs.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        for name, value in (("start", start), ("end", end)):
            if not EARLIEST <= value <= LATEST:
                raise serializers.ValidationError(
                    {name: [_("Give a date between 1900-01-01 and 2999-12-31.")]}
                )
        if start > end:
            raise serializers.ValidationError(
                {
                    "start": [
                        _("%(from)s %(start)s is after %(to)s %(end)s.")
                        % {
                            "from": self.fields["start"].label,
                            "to": self.fields["end"].label,
                            **_dates(start, end),
                        }
                    ]
                }
            )
        days = (end - start).days + 1
        if days > MAX_DAYS:
            raise serializers.ValidationError(
                {
                    "end": [
                        _("The period is %(days)d days long; at most %(max)d.")
                        % {"days": days, "max": MAX_DAYS}
                    ]
                }
            )
        attrs["start"], attrs["end"] = start, end
        return attrs

    def scope(self) -> Scope:
        data = self.validated_data
        touchpoint, touchpoint_id = data.get("touchpoint", ("", None))
        team, team_id = data.get("team", ("", None))
        return Scope(
            start=data["start"],
            end=data["end"],
            product=data.get("product", ""),
            channel=data.get("channel", ""),
            touchpoint=touchpoint,
            touchpoint_id=touchpoint_id,
            team=team,
            team_id=team_id,
        )


def _dates(start: date, end: date) -> dict:
    """The dates as a person reads them (31 Dec 2026), not as the query string has them."""
    return {"start": date_format(start, "j M Y"), "end": date_format(end, "j M Y")}


CAUSE_ROLES = [
    ("primary", _("Primary cause of each complaint")),
    ("all", _("Primary and contributing causes")),
]


class ParetoQuery(ScopeQuery):
    measure = _choice(
        "measure", [("count", _("Complaints")), ("cost", _("Recovery cost"))], _("Measure")
    )
    causes = _choice("causes", CAUSE_ROLES, _("Causes counted"))

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs.setdefault("measure", "count")
        attrs.setdefault("causes", "primary")
        if attrs["measure"] == "cost" and attrs["causes"] != "primary":
            raise serializers.ValidationError(
                {
                    "causes": [
                        _(
                            "Recovery cost is attributed to each complaint's primary cause "
                            "only; leave causes out or set it to primary."
                        )
                    ]
                }
            )
        return attrs


# A chart of more lines than this cannot be read.
MAX_TREND_CAUSES = 12
DEFAULT_TREND_CAUSES = 6


class TrendsQuery(ScopeQuery):
    causes = _choice("causes", CAUSE_ROLES, _("Causes counted"))
    codes = serializers.CharField(
        required=False, max_length=2000, label=_("Root-cause codes (comma-separated)")
    )
    top = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_TREND_CAUSES, label=_("Or the top N causes")
    )

    def validate_codes(self, value: str) -> list[RootCause]:
        codes = list(dict.fromkeys(code.strip() for code in value.split(",") if code.strip()))
        if not codes:
            raise serializers.ValidationError(_("Name at least one root-cause code."))
        if len(codes) > MAX_TREND_CAUSES:
            raise serializers.ValidationError(
                _("At most %(max)d codes.") % {"max": MAX_TREND_CAUSES}
            )
        found = {cause.code: cause for cause in RootCause.objects.filter(code__in=codes)}
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise serializers.ValidationError(
                _("Unknown root-cause codes: %(codes)s.") % {"codes": ", ".join(unknown)}
            )
        return [found[code] for code in codes]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "codes" in attrs and "top" in attrs:
            raise serializers.ValidationError({"top": [_("Give either codes or top, not both.")]})
        attrs.setdefault("causes", "primary")
        if "codes" not in attrs:
            attrs.setdefault("top", DEFAULT_TREND_CAUSES)
        return attrs


MAX_REPEAT_DAYS = 365
DEFAULT_REPEAT_DAYS = 30


class RepeatsQuery(ScopeQuery):
    within_days = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_REPEAT_DAYS, label=_("Again within (days)")
    )
    table = _choice("table", [("causes", _("Causes")), ("customers", _("Customers"))])

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs.setdefault("within_days", DEFAULT_REPEAT_DAYS)
        attrs.setdefault("table", "causes")
        return attrs


KPI_GROUPINGS = [
    ("channel", _("Channel")),
    ("touchpoint", _("Touchpoint")),
    ("journey_stage", _("Journey stage")),
    ("team", _("Team")),
    ("agent", _("Agent")),
]
# What a KPI row of complaints without the grouping's value is called.
KPI_NO_GROUP = {
    "channel": _("No channel"),
    "touchpoint": _("No touchpoint"),
    "journey_stage": _("No journey stage"),
    "team": _("No team"),
    "agent": _("Unassigned"),
}


class KpiQuery(ScopeQuery):
    by = _choice("by", KPI_GROUPINGS, _("Group by"))
    table = _choice("table", [("kpis", _("KPIs")), ("sla", _("SLA compliance"))])

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs.setdefault("by", "")
        attrs.setdefault("table", "kpis")
        return attrs


# The manager's dashboard compares the last 30 days with the 30 before, unless asked.
DASHBOARD_DAYS = 30


class DashboardQuery(ScopeQuery):
    def validate(self, attrs):
        if "start" not in attrs:
            end = attrs.get("end") or timezone.localdate()
            attrs["start"] = end - timedelta(days=DASHBOARD_DAYS - 1)
        return super().validate(attrs)


class FormatQuery(StrictSerializer):
    """Tables that take no other parameter."""

    format = _choice("format", [("json", "JSON"), ("csv", "CSV")])


MAX_EFFECTIVENESS_WEEKS = 52
DEFAULT_EFFECTIVENESS_WEEKS = 8


class EffectivenessQuery(StrictSerializer):
    weeks = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EFFECTIVENESS_WEEKS,
        label=_("Weeks before and after"),
    )
    format = _choice("format", [("json", "JSON"), ("csv", "CSV")])

    def validate(self, attrs):
        attrs.setdefault("weeks", DEFAULT_EFFECTIVENESS_WEEKS)
        return attrs


def validated(serializer_class, query_params, *, ignore_unknown: bool = False):
    """The query string checked by ``serializer_class``; raises ``ValidationFailed``.

    A parameter given twice is refused rather than silently taking one of the values. With
    ``ignore_unknown`` (the pages), parameters the serializer does not take are dropped.
    """
    if ignore_unknown:
        known = serializer_class().fields
        query_params = query_params.copy()
        for name in [name for name in query_params if name not in known]:
            del query_params[name]
    repeated = sorted(name for name, values in query_params.lists() if len(values) > 1)
    if repeated:
        raise ValidationFailed(
            _("Give each parameter once: %(names)s repeated.") % {"names": ", ".join(repeated)},
            details={name: [_("Given more than once.")] for name in repeated},
        )
    serializer = serializer_class(data=query_params.dict())
    if not serializer.is_valid():
        raise ValidationFailed(
            _summary(serializer.errors, serializer.fields), details=serializer.errors
        )
    return serializer


def field_label(fields, name: str) -> str:
    """How a message names a parameter: its form label, else (unknown) its name."""
    field = fields.get(name)
    return str(field.label) if field is not None and field.label else name


def _summary(errors: dict, fields) -> str:
    lines = []
    for field, problems in errors.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            if field == "non_field_errors" or _names_itself(problem, fields, field):
                lines.append(str(problem))
            else:
                lines.append(f"{field_label(fields, field)}: {problem}")
    return _("Invalid query. ") + "; ".join(lines)


def _names_itself(problem, fields, name: str) -> bool:
    """Whether a message already starts with the field's label ("From … is after To …")."""
    return str(problem).startswith(field_label(fields, name) + " ")
