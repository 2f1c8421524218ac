"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, printable.

Each function takes figures a selector returned and gives markup safe to put in a page:
every piece of text is escaped here, and every chart carries a title and a description for
screen readers (the tables beside them hold the same figures).
"""

import uuid

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# Colours of the lines, in order; chosen to stay apart for common colour blindness
# (Okabe and Ito's palette).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
BAR = "#0072B2"
CUMULATIVE = "#D55E00"
WIDTH = 760
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 56, 48, 16
# A bar's label is rotated 45° below the axis, in a 120-pixel band: about 32 characters of
# 11-pixel text fit before it leaves the picture.
BAR_LABEL_CHARS = 32
# The width of an average character of the charts' 11-pixel text (redress.css), with some
# room: a legend entry is laid out from its length so that no name is cut off.
CHAR_WIDTH = 6.5
LEGEND_SWATCH = 20
LEGEND_ROW = 18


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (an axis's top)."""
    if value <= 0:
        return 1
    step = 1
    while step * 10 <= value:
        step *= 10
    while step > value * 10:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _divisions(span: float) -> int:
    """How many steps an axis spanning ``span`` (a ``_nice_max``, or two added) is cut into:
    four when they fall on whole numbers, else five, two, three or one, the first that
    does, so that an axis of counts never reads "0.5 complaints". A span under one (a mean
    of small figures) is cut into four."""
    if span >= 1 and span == int(span):
        for steps in (4, 5, 2, 3):
            if span % steps == 0:
                return steps
        return 1
    return 4


def cause_label(row: dict) -> str:
    """What a chart calls a root cause: its name (the path, from the top of the taxonomy,
    is in the bar's tooltip and the table beside the chart), never its code."""
    return row.get("name") or row.get("path") or _("Unknown cause")


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


def _signed(value: float) -> str:
    return _number(value) if value >= 0 else "-" + _number(-value)


def _svg(height: int, title: str, description: str, body: list[str]) -> SafeString:
    # Ids unique in the page, which may hold several charts.
    ident = f"chart-{uuid.uuid4().hex[:8]}"
    # Safe: every text and attribute value interpolated into ``body`` went through escape().
    return mark_safe(  # noqa: S308
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-labelledby="{ident}-title {ident}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
        # Its text, grid and axis styles are in redress.css: the Content-Security-Policy
        # refuses an inline <style> (docs/security.md).
    )


def _y_grid(top: float, plot_height: int, plot_width: int, *, unit: str = "") -> list[str]:
    parts = []
    steps = _divisions(top)
    for n in range(steps + 1):
        value = top * n / steps
        y = MARGIN_TOP + plot_height - plot_height * n / steps
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    return parts


def pareto(rows: list[dict], *, value_key: str, title: str, unit_label: str) -> SafeString:
    """Bars of ``value_key`` per cause, largest first, and the cumulative percentage as a
    line against a 0-100 % axis on the right."""
    rows = rows[:25]
    plot_height, label_height = 220, 120
    height = MARGIN_TOP + plot_height + label_height
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    values = [float(row[value_key]) for row in rows]
    top = _nice_max(max(values, default=0))
    slot = plot_width / max(len(rows), 1)
    body = _y_grid(top, plot_height, plot_width)
    points = []
    for n, (row, value) in enumerate(zip(rows, values, strict=True)):
        bar_height = plot_height * value / top
        x = MARGIN_LEFT + n * slot
        y = MARGIN_TOP + plot_height - bar_height
        label = cause_label(row)
        body.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bar_height:.1f}" fill="{BAR}"><title>{escape(row.get("path") or label)}: '
            f"{escape(_number(value))} {escape(unit_label)}</title></rect>"
        )
        centre = x + slot / 2
        body.append(
            f'<text transform="translate({centre:.1f},{MARGIN_TOP + plot_height + 8}) '
            f'rotate(45)" text-anchor="start">{escape(_shortened(label, BAR_LABEL_CHARS))}</text>'
        )
        cumulative = row.get("cumulative_percent") or 0
        points.append(
            f"{centre:.1f},{MARGIN_TOP + plot_height - plot_height * cumulative / 100:.1f}"
        )
    if points:
        body.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{CUMULATIVE}" '
            'stroke-width="2"/>'
        )
        body.extend(
            f'<circle cx="{point.split(",")[0]}" cy="{point.split(",")[1]}" r="3" '
            f'fill="{CUMULATIVE}"/>'
            for point in points
        )
    right = MARGIN_LEFT + plot_width
    for n in range(5):
        y = MARGIN_TOP + plot_height - plot_height * n / 4
        body.append(f'<text x="{right + 6}" y="{y + 4:.1f}">{n * 25}%</text>')
    body.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{right}" y1="{MARGIN_TOP + plot_height}" '
        f'y2="{MARGIN_TOP + plot_height}"/>'
    )
    description = _(
        "Bars: %(unit)s per root cause, largest first. Line: cumulative share, right axis."
    ) % {"unit": unit_label}
    return _svg(height, title, description, body)


def _legend_layout(names: list[str], plot_width: float) -> dict:
    """Columns for the legend: three, two or one, the most that hold the longest name whole.

    ``chars`` is what one column holds; only a name longer than the whole width (more than
    about 100 characters) is shortened, and its line's tooltip keeps it in full.
    """
    longest = max((len(name) for name in names), default=0)
    for columns in (3, 2, 1):
        chars = int((plot_width / columns - LEGEND_SWATCH - 8) / CHAR_WIDTH)
        if longest <= chars or columns == 1:
            break
    return {"columns": columns, "rows": -(-len(names) // columns), "chars": chars}


def lines(
    labels: list[str],
    series: list[tuple[str, list[float]]],
    *,
    title: str,
    unit: str = "",
    marker: int | None = None,
    marker_label: str = "",
) -> SafeString:
    """One line per series over the same x labels (weeks), with a legend below.

    ``marker`` draws a vertical rule before that x position (a corrective action's date).
    """
    plot_height = 220
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    legend = _legend_layout([name for name, _values in series], plot_width)
    height = MARGIN_TOP + plot_height + 36 + LEGEND_ROW * legend["rows"]
    top = _nice_max(max((max(values, default=0) for _, values in series), default=0))
    count = max(len(labels), 1)
    step = plot_width / max(count - 1, 1)
    body = _y_grid(top, plot_height, plot_width, unit=unit)
    # About eight x labels, whatever the number of weeks.
    every = max(1, count // 8)
    for n, label in enumerate(labels):
        if n % every == 0:
            x = MARGIN_LEFT + n * step
            body.append(
                f'<text x="{x:.1f}" y="{MARGIN_TOP + plot_height + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    if marker is not None and 0 <= marker < count:
        x = MARGIN_LEFT + (marker - 0.5) * step if marker else MARGIN_LEFT
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + plot_height}" '
            f'stroke="#999" stroke-dasharray="4 3"/>'
            f'<text x="{x + 4:.1f}" y="{MARGIN_TOP + 10}">{escape(marker_label)}</text>'
        )
    for index, (name, values) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{MARGIN_LEFT + n * step:.1f},"
            f"{MARGIN_TOP + plot_height - plot_height * (value or 0) / top:.1f}"
            for n, value in enumerate(values)
        )
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
        column, row = index % legend["columns"], index // legend["columns"]
        x = MARGIN_LEFT + column * (plot_width / legend["columns"])
        y = MARGIN_TOP + plot_height + 36 + row * LEGEND_ROW
        body.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{x + LEGEND_SWATCH:.1f}" y="{y - 4}">'
            f"{escape(_shortened(name, legend['chars']))}</text>"
        )
    body.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" '
        f'y1="{MARGIN_TOP + plot_height}" y2="{MARGIN_TOP + plot_height}"/>'
    )
    description = _("One line per series, one point per week.")
    return _svg(height, title, description, body)


def trend(
    labels: list[str], values: list[float | None], *, title: str, unit: str = ""
) -> SafeString:
    """One figure over time (a KPI per month): a line with a dot per point, broken where a
    point has no figure (no answers that month), on an axis that goes below zero when a
    figure does (NPS runs from -100 to +100)."""
    plot_height, height = 120, MARGIN_TOP + 120 + 28
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    known = [float(value) for value in values if value is not None]
    top = _nice_max(max(known, default=0))
    bottom = -_nice_max(-min(known)) if known and min(known) < 0 else 0
    span = top - bottom
    count = max(len(labels), 1)
    step = plot_width / max(count - 1, 1)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_height - plot_height * (value - bottom) / span

    body = []
    steps = _divisions(span)
    for n in range(steps + 1):
        value = bottom + span * n / steps
        y = y_of(value)
        body.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_signed(value))}{escape(unit)}</text>"
        )
    every = max(1, count // 12)
    for n, label in enumerate(labels):
        if n % every == 0:
            body.append(
                f'<text x="{MARGIN_LEFT + n * step:.1f}" y="{MARGIN_TOP + plot_height + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    segment: list[str] = []
    segments = [segment]
    for n, value in enumerate(values):
        if value is None:
            segment = []
            segments.append(segment)
            continue
        x, y = MARGIN_LEFT + n * step, y_of(float(value))
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{BAR}"><title>'
            f"{escape(labels[n])}: {escape(_signed(float(value)))}"
            f"{escape(unit)}</title></circle>"
        )
    body.extend(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{BAR}" stroke-width="2"/>'
        for points in segments
        if len(points) > 1
    )
    body.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" '
        f'y1="{MARGIN_TOP + plot_height}" y2="{MARGIN_TOP + plot_height}"/>'
    )
    description = _("One point per month; a gap where the month has no figure.")
    return _svg(height, title, description, body)
