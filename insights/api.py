"""Read-only insight API: each view validates its query string, calls a selector, answers.

Every table is also CSV (``?format=csv`` or ``Accept: text/csv``); errors are always JSON.
"""

import csv
import io
from dataclasses import dataclass, field

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import Conflict, NotFound, ValidationFailed
from common.rest.negotiation import OptionsInJson
from insights import permissions, selectors, tables
from insights.params import (
    EffectivenessQuery,
    FormatQuery,
    KpiQuery,
    ParetoQuery,
    RepeatsQuery,
    ScopeQuery,
    TrendsQuery,
    validated,
)
from recovery.models import CorrectiveAction

FORMATS = ("json", "csv")


@dataclass
class CsvTable:
    """A table to render as CSV: a header row, the rows, and the download's file name."""

    columns: list[str]
    rows: list[list] = field(default_factory=list)
    filename: str = "redress.csv"


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(data.columns)
        writer.writerows([_cell(value) for value in row] for row in data.rows)
        return buffer.getvalue().encode(self.charset)


def _cell(value):
    # A spreadsheet runs a cell starting with = + - @ as a formula; cause names and products
    # are typed by people, so such text is prefixed to stay text. Numbers are left alone.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


class InsightNegotiation(OptionsInJson):
    """``?format=`` other than json or csv is a 400 naming both, not DRF's bare 404."""

    def select_renderer(self, request, renderers, format_suffix=None):
        asked = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if asked is not None and asked not in FORMATS:
            raise ValidationFailed(
                f"format must be one of: {', '.join(FORMATS)}.",
                details={"format": [f"Choose one of: {', '.join(FORMATS)}."]},
            )
        return super().select_renderer(request, renderers, format_suffix)


class InsightView(APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    content_negotiation_class = InsightNegotiation
    permission_classes = [IsAuthenticated, permissions.CanViewInsights]
    query_class = ScopeQuery

    def get(self, request, **kwargs):
        query = validated(self.query_class, request.query_params)
        payload = self.compute(query, **kwargs)
        if request.accepted_renderer.format == "csv":
            table = self.table(payload, query)
            return Response(
                table, headers={"Content-Disposition": f'attachment; filename="{table.filename}"'}
            )
        return Response(payload)

    def compute(self, query, **kwargs) -> dict:
        raise NotImplementedError

    def table(self, payload: dict, query) -> CsvTable:
        raise NotImplementedError

    def options(self, request, *args, **kwargs):
        # Only the tables have a CSV form: the endpoint's description is JSON whatever the
        # client accepts.
        self._answer_in_json()
        return super().options(request, *args, **kwargs)

    def handle_exception(self, exc):
        # An error is a JSON body whatever the client accepts: a CSV of an error would be
        # read as data.
        self._answer_in_json()
        return super().handle_exception(exc)

    def _answer_in_json(self) -> None:
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type


def _csv(name: str, payload_scope: dict, columns, rows) -> CsvTable:
    suffix = f"{payload_scope['start']}_{payload_scope['end']}" if payload_scope else ""
    filename = f"redress-{name}{'-' + suffix if suffix else ''}.csv"
    return CsvTable(columns=list(columns), rows=[list(row) for row in rows], filename=filename)


def _schema(query_class, description: str, **errors: str):
    """JSON or CSV; ``errors`` (``e409="..."``) adds statuses beyond those every view has."""
    return extend_schema(
        parameters=[query_class],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description=description
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The table as CSV."),
            **{int(code[1:]): OpenApiResponse(description=text) for code, text in errors.items()},
        },
    )


class ParetoView(InsightView):
    query_class = ParetoQuery

    @_schema(ParetoQuery, "Root causes by complaints or by recovery cost, with cumulative %.")
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, **kwargs):
        scope = query.scope()
        if query.validated_data["measure"] == "cost":
            return selectors.pareto_by_cost(scope)
        return selectors.pareto_by_count(scope, causes=query.validated_data["causes"])

    def table(self, payload, query):
        columns, rows = tables.pareto(payload)
        return _csv(f"pareto-{payload['measure']}", payload["scope"], columns, rows)


class TrendsView(InsightView):
    query_class = TrendsQuery

    @_schema(TrendsQuery, "Complaints per week for the top causes (or the codes asked for).")
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, **kwargs):
        data = query.validated_data
        return selectors.cause_trends(
            query.scope(),
            causes=data["causes"],
            chosen=data.get("codes"),
            top=data.get("top"),
        )

    def table(self, payload, query):
        columns, rows = tables.trends(payload)
        return _csv("trends", payload["scope"], columns, rows)


class RepeatsView(InsightView):
    query_class = RepeatsQuery

    @_schema(RepeatsQuery, "Customers complaining again within N days, and the causes.")
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, **kwargs):
        return selectors.repeat_complaints(
            query.scope(),
            within_days=query.validated_data["within_days"],
            viewer=self.request.user,
        )

    def table(self, payload, query):
        which = query.validated_data["table"]
        columns, rows = tables.repeats(payload, which)
        return _csv(f"repeats-{which}", payload["scope"], columns, rows)


class KpiView(InsightView):
    query_class = KpiQuery

    @_schema(KpiQuery, "Service KPIs, overall or by channel, touchpoint, stage, team or agent.")
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, **kwargs):
        return selectors.kpis(query.scope(), by=query.validated_data["by"])

    def table(self, payload, query):
        which = query.validated_data["table"]
        columns, rows = tables.kpis(payload, which)
        return _csv(f"kpis-{which}", payload["scope"], columns, rows)


class AlertsView(InsightView):
    query_class = FormatQuery

    @_schema(FormatQuery, "Root causes rising faster than usual, most recent first.")
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, **kwargs):
        return {"alerts": selectors.recent_alerts()}

    def table(self, payload, query):
        columns, rows = tables.alerts(payload)
        return _csv("rising-causes", {}, columns, rows)


class EffectivenessView(InsightView):
    query_class = EffectivenessQuery
    permission_classes = [IsAuthenticated, permissions.CanViewCorrectiveActions]

    @_schema(
        EffectivenessQuery,
        "Rate of the action's causes before and after it was done.",
        e409="The corrective action is not done yet: there is no date to measure from.",
    )
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    def compute(self, query, *, action_id: int):
        action = CorrectiveAction.objects.filter(pk=action_id).first()
        if action is None:
            raise NotFound(f"No corrective action {action_id}.")
        if action.done_at is None:
            raise Conflict(
                f"Corrective action {action.pk} is {action.get_status_display().lower()}: its "
                "effectiveness is measured from the date it was done, which is not set yet.",
                details={"status": action.status},
            )
        return selectors.capa_effectiveness(action, weeks=query.validated_data["weeks"])

    def table(self, payload, query):
        columns, rows = tables.effectiveness(payload)
        return CsvTable(
            columns=columns,
            rows=rows,
            filename=f"redress-corrective-action-{payload['corrective_action']['id']}.csv",
        )
