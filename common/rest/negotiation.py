"""Content negotiation for the API: OPTIONS describes an endpoint in JSON, whatever Accept says.

DRF negotiates OPTIONS like any other method, so ``Accept: text/csv`` or
``Accept: application/x-foo`` on an endpoint that renders JSON only answered ``406``. An
endpoint's description exists in one form only: refusing it helps no client (a CORS
preflight or a generic HTTP tool sends whatever Accept it has), so OPTIONS always answers
it, as JSON. Other methods negotiate as DRF does.
"""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer


class OptionsInJson(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if request.method == "OPTIONS":
            # The view's own JSON renderer; the schema and docs views have none of that name.
            json = next((r for r in renderers if r.format == "json"), None) or JSONRenderer()
            return json, json.media_type
        return super().select_renderer(request, renderers, format_suffix)
