"""The one way pages write dates and times, as filters every template has (``builtins``)
and as functions for the Python that builds labels (charts, deadlines, the timeline).

``{{ moment|when }}`` "7 Dec 2026, 14:05"; ``{{ moment|when_short }}`` "7 Dec, 14:05" (this
year's lists); ``{{ moment|day }}`` "7 Dec 2026"; ``{{ first|month }}`` "Dec 2026". In the
current time zone, like ``date``. Each also takes an ISO 8601 string ("2026-12-07", what the
insight selectors return), so a page never shows a raw ISO date.
"""

from datetime import date as date_type
from datetime import datetime

from django import template
from django.template.defaultfilters import date
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

WHEN = "j M Y, H:i"
WHEN_SHORT = "j M, H:i"
DAY = "j M Y"
# A chart's axis, where the period already says the year.
DAY_SHORT = "j M"
MONTH = "M Y"
# A deadline names its weekday (people plan by it) and, in its region's time, its zone.
DEADLINE_DAY = "D j M Y"
DEADLINE = "D j M Y, H:i T"


def _parsed(value):
    """A date or datetime from ``value``; an ISO string is parsed, anything else is kept."""
    if not isinstance(value, str) or not value:
        return value
    try:
        if len(value) == 7:  # "2026-01", a month
            return date_type.fromisoformat(value + "-01")
        if len(value) == 10:
            return date_type.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return timezone.localtime(parsed) if timezone.is_aware(parsed) else parsed


def formatted(value, style: str = "when") -> str:
    """``value`` (date, datetime or ISO string) written the desk's way: ``style`` is "when",
    "when_short", "day", "day_short", "month", "deadline" or "deadline_day". An aware datetime is written
    in its own zone: convert it first (``timezone.localtime``) to show the current one."""
    value = _parsed(value)
    if value in (None, ""):
        return ""
    return date(value, FORMATS[style])


FORMATS = {
    "when": WHEN,
    "when_short": WHEN_SHORT,
    "day": DAY,
    "day_short": DAY_SHORT,
    "month": MONTH,
    "deadline": DEADLINE,
    "deadline_day": DEADLINE_DAY,
}


@register.filter(expects_localtime=True, is_safe=False)
def when(value) -> str:
    return formatted(value, "when")


@register.filter(expects_localtime=True, is_safe=False)
def when_short(value) -> str:
    return formatted(value, "when_short")


@register.filter(expects_localtime=True, is_safe=False)
def day(value) -> str:
    return formatted(value, "day")


@register.filter(expects_localtime=True, is_safe=False)
def month(value) -> str:
    return formatted(value, "month")


STYLES = {"": WHEN, "short": WHEN_SHORT, "day": DAY}


@register.filter(expects_localtime=True)
def moment(value, style: str = "") -> str:
    """``<time datetime="…">7 Dec 2026, 14:05</time>``: readable, and exact for machines and
    screen readers. ``style``: "" (date and time), "short" (no year) or "day"."""
    value = _parsed(value)
    if value in (None, ""):
        return ""
    return format_html(
        '<time datetime="{}">{}</time>', date(value, "c"), date(value, STYLES.get(style, WHEN))
    )
