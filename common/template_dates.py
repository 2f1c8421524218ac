"""The one way pages write dates and times, as filters every template has (``builtins``).

``{{ moment|when }}`` "7 Dec 2026, 14:05"; ``{{ moment|when_short }}`` "7 Dec, 14:05" (this
year's lists); ``{{ moment|day }}`` "7 Dec 2026". In the current time zone, like ``date``.
"""

from django import template
from django.template.defaultfilters import date
from django.utils.html import format_html

register = template.Library()

WHEN = "j M Y, H:i"
WHEN_SHORT = "j M, H:i"
DAY = "j M Y"


@register.filter(expects_localtime=True, is_safe=False)
def when(value) -> str:
    return date(value, WHEN)


@register.filter(expects_localtime=True, is_safe=False)
def when_short(value) -> str:
    return date(value, WHEN_SHORT)


@register.filter(expects_localtime=True, is_safe=False)
def day(value) -> str:
    return date(value, DAY)


STYLES = {"": WHEN, "short": WHEN_SHORT, "day": DAY}


@register.filter(expects_localtime=True)
def moment(value, style: str = "") -> str:
    """``<time datetime="…">7 Dec 2026, 14:05</time>``: readable, and exact for machines and
    screen readers. ``style``: "" (date and time), "short" (no year) or "day"."""
    if value in (None, ""):
        return ""
    return format_html(
        '<time datetime="{}">{}</time>', date(value, "c"), date(value, STYLES.get(style, WHEN))
    )
