"""Insight pages for supervisors and managers: server-rendered, charts as inline SVG.

Thin views: validate the query string with the API's serializers, call a selector, draw.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from common.errors import ValidationFailed
from common.template_dates import formatted
from escalation import selectors as escalation_selectors
from insights import charts, dashboard, permissions, selectors
from insights.params import (
    CAUSE_ROLES,
    KPI_GROUPINGS,
    KPI_NO_GROUP,
    DashboardQuery,
    EffectivenessQuery,
    KpiQuery,
    ParetoQuery,
    RepeatsQuery,
    TrendsQuery,
    field_label,
    validated,
)
from recovery.models import Channel, CorrectiveAction, Team, Touchpoint

HOUR = 3600


def _query(request, query_class):
    """The validated query string; blank form fields count as not given, and parameters
    the page does not take (a mail client's ``utm_source``) are ignored."""
    params = request.GET.copy()
    for name in [name for name, value in params.items() if value == ""]:
        del params[name]
    return validated(query_class, params, ignore_unknown=True)


def _labelled(errors: dict, query_class) -> dict:
    """The problems by the label of the form field they are about, as the page shows them.

    A message that already names its field ("From 31 Dec 2026 is after To …") is shown
    without the label in front (``non_field_errors`` is never prefixed).
    """
    fields = query_class().fields
    labelled: dict = {}
    for name, problems in errors.items():
        label = field_label(fields, name)
        for problem in problems if isinstance(problems, list) else [problems]:
            key = "non_field_errors" if str(problem).startswith(label + " ") else label
            labelled.setdefault(key, []).append(problem)
    return labelled


def _filters_context(request) -> dict:
    return {
        "channels": Channel.choices,
        "touchpoints": Touchpoint.objects.order_by("name").values("slug", "name"),
        "teams": Team.objects.order_by("name").values("slug", "name"),
        "asked": request.GET,
    }


def _capa_context(request) -> dict:
    """Whether the page offers to start a corrective action for a cause, and where."""
    return {
        "may_open_capa": request.user.has_perm("recovery.add_correctiveaction"),
        # A desk page: linked by its URL name, as the other interfaces' pages are.
        "capa_new_url": reverse("desk:corrective-action-new"),
    }


def _csv_link(name: str, params: dict, **kwargs) -> str:
    query = {key: value for key, value in params.items() if value not in ("", None)}
    query["format"] = "csv"
    return f"{reverse(name, kwargs=kwargs or None)}?{urlencode(query)}"


def _page(request, template: str, query_class, build):
    """Check the user may see insights, validate, build the context, render.

    A bad query string renders the page's form with the errors (400), never a 500.
    """
    if not permissions.may_view_insights(request.user):
        raise PermissionDenied(_("Insights are for supervisors and complaints managers."))
    context = {"nav": "insights", **_capa_context(request), **_filters_context(request)}
    try:
        query = _query(request, query_class)
    except ValidationFailed as exc:
        context.update(
            errors=_labelled(exc.details, query_class),
            error_message=exc.message,
            period={"start": request.GET.get("start", ""), "end": request.GET.get("end", "")},
        )
        return render(request, template, context, status=400)
    scope = query.scope() if hasattr(query, "scope") else None
    if scope is not None:
        context["period"] = {"start": scope.start.isoformat(), "end": scope.end.isoformat()}
    context.update(build(query))
    return render(request, template, context)


@login_required
def dashboard_page(request):
    """Where a complaints manager lands: the period's headline figures against the period
    before, and each figure month by month."""

    def build(query):
        scope = query.scope()
        payload = dashboard.manager_dashboard(scope)
        months = [formatted(first, "month") for first in payload["trends"]["months"]]
        return {
            "payload": payload,
            "tiles": payload["tiles"],
            "trend_charts": [
                {
                    "title": str(title),
                    "chart": charts.trend(
                        months,
                        payload["trends"]["series"][key],
                        title=_("%(figure)s per month") % {"figure": title},
                        unit=unit,
                    ),
                    "rows": list(
                        zip(
                            payload["trends"]["months"],
                            payload["trends"]["series"][key],
                            strict=True,
                        )
                    ),
                    "unit": unit,
                }
                for key, title, unit, _better in dashboard.TILES
            ],
        }

    return _page(request, "insights/dashboard.html", DashboardQuery, build)


@login_required
def pareto_page(request):
    def build(query):
        data = query.validated_data
        scope = query.scope()
        if data["measure"] == "cost":
            payload = selectors.pareto_by_cost(scope)
            charts_by_currency = [
                {
                    "currency": currency["currency"],
                    "chart": charts.pareto(
                        [row for row in payload["rows"] if row["currency"] == currency["currency"]],
                        value_key="amount",
                        title=_("Recovery cost by root cause (%(currency)s)")
                        % {"currency": currency["currency"]},
                        unit_label=currency["currency"],
                    ),
                }
                for currency in payload["currencies"]
            ]
            context = {"payload": payload, "cost_charts": charts_by_currency}
        else:
            payload = selectors.pareto_by_count(scope, causes=data["causes"])
            context = {
                "payload": payload,
                "chart": charts.pareto(
                    payload["rows"],
                    value_key="complaints",
                    title=_("Complaints by root cause"),
                    unit_label=_("complaints"),
                ),
            }
        params = {**scope.query_string(), "measure": data["measure"]}
        if data["measure"] == "count":
            params["causes"] = data["causes"]
        context.update(
            measure=data["measure"],
            causes=data["causes"],
            cause_roles=CAUSE_ROLES,
            alerts=selectors.recent_alerts(limit=10),
            csv_link=_csv_link("insights-api:pareto", params),
            alerts_csv_link=_csv_link("insights-api:alerts", {}),
        )
        return context

    return _page(request, "insights/pareto.html", ParetoQuery, build)


@login_required
def trends_page(request):
    def build(query):
        data = query.validated_data
        scope = query.scope()
        payload = selectors.cause_trends(
            scope, causes=data["causes"], chosen=data.get("codes"), top=data.get("top")
        )
        labels = [formatted(week, "day_short") for week in payload["weeks"]]
        params = {**scope.query_string(), "causes": data["causes"]}
        if data.get("codes"):
            params["codes"] = ",".join(cause.code for cause in data["codes"])
        else:
            params["top"] = data["top"]
        rows = [
            {
                "week": week,
                "volume": payload["volume"][n],
                "counts": [s["counts"][n] for s in payload["series"]],
            }
            for n, week in enumerate(payload["weeks"])
        ]
        return {
            "payload": payload,
            "rows": rows,
            "causes": data["causes"],
            "cause_roles": CAUSE_ROLES,
            "chart": charts.lines(
                labels,
                [(s["path"] or charts.cause_label(s), s["counts"]) for s in payload["series"]],
                title=_("Complaints per week, by root cause"),
            ),
            "volume_chart": charts.lines(
                labels, [(_("All complaints"), payload["volume"])], title=_("Complaints per week")
            ),
            "csv_link": _csv_link("insights-api:trends", params),
        }

    return _page(request, "insights/trends.html", TrendsQuery, build)


@login_required
def repeats_page(request):
    def build(query):
        data = query.validated_data
        scope = query.scope()
        payload = selectors.repeat_complaints(
            scope, within_days=data["within_days"], viewer=request.user
        )
        params = {**scope.query_string(), "within_days": data["within_days"]}
        return {
            "payload": payload,
            "within_days": data["within_days"],
            "chart": charts.pareto(
                _with_cumulative(payload["causes"], "repeat_complaints"),
                value_key="repeat_complaints",
                title=_("Repeat complaints by root cause"),
                unit_label=_("repeat complaints"),
            ),
            "csv_link": _csv_link("insights-api:repeats", {**params, "table": "causes"}),
            "customers_csv_link": _csv_link(
                "insights-api:repeats", {**params, "table": "customers"}
            ),
        }

    return _page(request, "insights/repeats.html", RepeatsQuery, build)


def _with_cumulative(rows: list[dict], key: str) -> list[dict]:
    """Rows (already largest first) with the running share the Pareto chart draws."""
    total = sum(row[key] for row in rows)
    running, result = 0, []
    for row in rows:
        running += row[key]
        result.append({**row, "cumulative_percent": 100 * running / total if total else 0})
    return result


@login_required
def kpis_page(request):
    def build(query):
        data = query.validated_data
        scope = query.scope()
        payload = selectors.kpis(scope, by=data["by"])
        for row in payload["rows"]:
            row["hours"] = {
                key: (row[f"{key}_seconds"] / HOUR if row[f"{key}_seconds"] is not None else None)
                for key in (
                    "acknowledge_median",
                    "acknowledge_p90",
                    "resolve_median",
                    "resolve_p90",
                )
            }
            row["sla_cells"] = [row["sla"].get(clock) for clock in payload["clocks"]]
        params = {**scope.query_string(), "by": data["by"]}
        return {
            "payload": payload,
            "by": data["by"],
            "groupings": KPI_GROUPINGS,
            "no_group": KPI_NO_GROUP.get(data["by"], ""),
            "csv_link": _csv_link("insights-api:kpis", {**params, "table": "kpis"}),
            "clock_names": [
                escalation_selectors.compliance_clock_label(clock) for clock in payload["clocks"]
            ],
            "sla_csv_link": _csv_link("insights-api:kpis", {**params, "table": "sla"}),
        }

    return _page(request, "insights/kpis.html", KpiQuery, build)


@login_required
def effectiveness_page(request, action_id: int):
    if not permissions.may_view_corrective_actions(request.user):
        raise PermissionDenied(_("Corrective actions are for supervisors and complaints managers."))
    action = get_object_or_404(CorrectiveAction, pk=action_id)
    context = {"nav": "insights", "action": action, **_capa_context(request)}
    try:
        query = _query(request, EffectivenessQuery)
    except ValidationFailed as exc:
        context.update(errors=_labelled(exc.details, EffectivenessQuery), error_message=exc.message)
        return render(request, "insights/effectiveness.html", context, status=400)
    weeks = query.validated_data["weeks"]
    context["weeks"] = weeks
    if action.done_at is None:
        return render(request, "insights/effectiveness.html", context, status=409)
    payload = selectors.capa_effectiveness(action, weeks=weeks)
    series = payload["series"]
    context.update(
        payload=payload,
        chart=charts.lines(
            [str(row["week"]) for row in series],
            [
                (
                    _("Share of classified complaints with the cause (%)"),
                    [100 * row["rate"] if row["rate"] is not None else 0 for row in series],
                )
            ],
            title=_("Weekly rate of the action's causes, before and after it was done"),
            unit="%",
            marker=weeks,
            marker_label=_("done"),
        ),
        csv_link=_csv_link("insights-api:effectiveness", {"weeks": weeks}, action_id=action.pk),
    )
    return render(request, "insights/effectiveness.html", context)
