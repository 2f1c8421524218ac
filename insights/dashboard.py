"""The complaints manager's dashboard: headline figures of a period against the period
before it, and each figure month by month.

Every figure comes from the insight selectors (``selectors.kpis`` and
``selectors.pareto_by_cost``, read from the per-day summaries on PostgreSQL) and the latest
rising-cause alerts: nothing here reads complaints itself, so the dashboard costs what those
reads cost.
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from escalation.selectors import STATUTORY_SUFFIX
from insights import selectors
from insights.params import Scope
from recovery.models import RootCauseAlert

# The months the trend charts cover, the period's own month included: a year shows the
# seasons, and twelve summary reads stay well inside the insights' 500 ms budget.
TREND_MONTHS = 12

# (key, title, unit, which way is better). "pts": a change in percentage points.
TILES = [
    ("complaints", _("Complaints received"), "", None),
    ("acknowledged_on_time", _("Acknowledged on time"), "%", "up"),
    ("resolved_on_time", _("Resolved on time"), "%", "up"),
    ("statutory_breaches", _("Statutory deadlines breached"), "", "down"),
    ("upheld_percent", _("Upheld"), "%", None),
    ("csat_percent", _("CSAT (satisfied)"), "%", "up"),
    ("nps", _("NPS"), "", "up"),
    ("ces_mean", _("Customer effort (1 to 7)"), "", "down"),
]


def previous_scope(scope: Scope) -> Scope:
    """The period of the same length just before ``scope``, with the same filters."""
    days = (scope.end - scope.start).days + 1
    return replace(
        scope, start=scope.start - timedelta(days=days), end=scope.start - timedelta(days=1)
    )


def headline(row: dict) -> dict:
    """The dashboard's figures out of one ``selectors.kpis`` row."""
    sla = row["sla"]
    return {
        "complaints": row["complaints"],
        "acknowledged_on_time": (sla.get("acknowledge") or {}).get("met_percent"),
        "resolved_on_time": (sla.get("resolve") or {}).get("met_percent"),
        "statutory_breaches": sum(
            cell["breached"] for clock, cell in sla.items() if clock.endswith(STATUTORY_SUFFIX)
        ),
        "statutory_clocks": sum(
            cell["met"] + cell["breached"]
            for clock, cell in sla.items()
            if clock.endswith(STATUTORY_SUFFIX)
        ),
        "upheld_percent": row["upheld_percent"],
        "with_outcome": row["with_outcome"],
        "csat_percent": row["csat_percent"],
        "csat_answers": row["csat_answers"],
        "nps": row["nps"],
        "nps_answers": row["nps_answers"],
        "ces_mean": row["ces_mean"],
        "ces_answers": row["ces_answers"],
    }


def _change(now, before, unit: str) -> dict | None:
    """Now against before: the difference (percentage points for a rate) and, for a count,
    the relative change. None when either side has no figure."""
    if now is None or before is None:
        return None
    difference = round(float(now) - float(before), 1)
    relative = round(100 * (float(now) - float(before)) / float(before), 1) if before else None
    return {
        "difference": difference,
        "relative_percent": relative if unit != "%" else None,
        "direction": "up" if difference > 0 else "down" if difference < 0 else "same",
    }


def _tiles(now: dict, before: dict) -> list[dict]:
    tiles = []
    for key, title, unit, better in TILES:
        change = _change(now[key], before[key], unit)
        verdict = None
        if change and better and change["direction"] != "same":
            verdict = "better" if change["direction"] == better else "worse"
        tiles.append(
            {
                "key": key,
                "title": str(title),
                "unit": unit,
                "value": now[key],
                "previous": before[key],
                "change": change,
                "verdict": verdict,
            }
        )
    return tiles


def _redress(scope: Scope, before: Scope) -> list[dict]:
    """Recovery money per currency (declined offers left out), now and before."""
    now = {c["currency"]: c["total"] for c in selectors.pareto_by_cost(scope)["currencies"]}
    then = {c["currency"]: c["total"] for c in selectors.pareto_by_cost(before)["currencies"]}
    rows = []
    for currency in sorted(set(now) | set(then)):
        amount, previous = Decimal(now.get(currency, "0")), Decimal(then.get(currency, "0"))
        rows.append(
            {
                "currency": currency,
                "amount": f"{amount:.2f}",
                "previous": f"{previous:.2f}",
                "change": _change(amount, previous, ""),
            }
        )
    return rows


def top_rising_cause(scope: Scope) -> dict | None:
    """The cause that rose most above its baseline in the latest week with an alert that
    starts within the period (the alerts are kept by ``raise_rising_causes``)."""
    alerts = list(
        RootCauseAlert.objects.filter(week_start__gte=scope.start, week_start__lte=scope.end)
        .order_by("-week_start")
        .values("root_cause_id", "week_start", "count", "baseline")[:50]
    )
    if not alerts:
        return None
    latest = [a for a in alerts if a["week_start"] == alerts[0]["week_start"]]
    top = max(latest, key=lambda a: (a["count"] - a["baseline"], -a["root_cause_id"]))
    info = selectors.cause_catalogue().get(top["root_cause_id"])
    return {
        "root_cause_id": top["root_cause_id"],
        "code": info.code if info else "",
        "name": info.name if info else "",
        "path": info.path if info else "",
        "week_start": top["week_start"].isoformat(),
        "count": top["count"],
        "baseline": round(top["baseline"], 2),
    }


def _months(end: date, count: int) -> list[tuple[date, date]]:
    """The ``count`` calendar months up to the one holding ``end`` (cut at ``end``)."""
    months, first = [], end.replace(day=1)
    for _n in range(count):
        last = min(end, _next_month(first) - timedelta(days=1))
        months.append((first, last))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(months))


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def trends(scope: Scope, *, months: int = TREND_MONTHS) -> dict:
    """Each headline figure per calendar month, the last ``months`` up to the period's end."""
    spans = _months(scope.end, months)
    figures = [
        headline(selectors.kpis(replace(scope, start=first, end=last))["rows"][0])
        for first, last in spans
    ]
    return {
        "months": [first.strftime("%Y-%m") for first, _last in spans],
        "series": {key: [row[key] for row in figures] for key, *_rest in TILES},
    }


def manager_dashboard(scope: Scope) -> dict:
    before = previous_scope(scope)
    now = headline(selectors.kpis(scope)["rows"][0])
    then = headline(selectors.kpis(before)["rows"][0])
    return {
        "scope": {"start": scope.start.isoformat(), "end": scope.end.isoformat()},
        "previous": {"start": before.start.isoformat(), "end": before.end.isoformat()},
        "figures": now,
        "previous_figures": then,
        "tiles": _tiles(now, then),
        "redress": _redress(scope, before),
        "top_rising_cause": top_rising_cause(scope),
        "trends": trends(scope),
    }
