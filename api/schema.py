"""The OpenAPI schema's view of errors: one ``Error`` body, documented on every operation.

``api.errors`` turns every error into the same body; this module says so in the
schema, once, instead of on each view. Which statuses an operation can answer follows from
the view itself: who it lets in, whether it takes a body or a query string, whether it has
path parameters, pages or a rate limit.
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from common.rest.fields import StrictSerializer

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

ERROR_DESCRIPTIONS = {
    "400": "The request is malformed or a field is invalid; `details` names each field.",
    "401": "No credentials, or credentials that are not valid (see `WWW-Authenticate`).",
    "403": "Signed in, but not allowed to do this (role, ownership or team).",
    "404": "No such object, or not one you may see; or a page past the last.",
    "409": "The object's state does not allow this now, or someone changed it first.",
    "413": "The request body is over the size limit.",
    "415": "The request body is not of a media type this operation accepts.",
    "429": "Too many requests; wait for `Retry-After` seconds.",
}

# Headers DRF sends with these errors (rest_framework.views.APIView.handle_exception).
ERROR_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "required": True,
            "description": "The scheme to authenticate with: Token.",
        }
    },
    "429": {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds until a request may be made again.",
        }
    },
}


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the API (``api.errors``)."""

    error = serializers.CharField(
        read_only=True, help_text="A stable code, such as validation_failed or not_found."
    )
    message = serializers.CharField(read_only=True, help_text="What went wrong and what to do.")
    details = serializers.DictField(
        read_only=True,
        help_text="Per field (or header), the problems found; empty when there is none.",
    )


class RedressAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
        for code, response in responses.items():
            # An error documented by the view with a description alone has the common body.
            if code[0] in "45" and "content" not in response:
                response.update(self._error_response(code, response["description"]))
        return operation

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if not type(serializer).__doc__:
            # drf-spectacular would describe it with a base class's docstring (how
            # StrictSerializer works), which says nothing to a client.
            schema.pop("description", None)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            # It refuses a field it does not know (400), so the schema allows none.
            schema["additionalProperties"] = False
        return schema

    def _error_codes(self, operation) -> list[str]:
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        has_path_parameters = any(p["in"] == "path" for p in operation.get("parameters", []))
        takes_body = "requestBody" in operation
        authenticated = self._requires_authentication()
        codes = []
        if takes_body or query:
            codes.append("400")
        if authenticated:
            codes += ["401", "403"]
        if has_path_parameters or "page" in query:
            codes.append("404")
        # A write to an object, or by someone, may meet a state or a key it conflicts with.
        if self.method in UNSAFE_METHODS and (has_path_parameters or authenticated):
            codes.append("409")
        if takes_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _requires_authentication(self) -> bool:
        return bool(self.view.get_authenticators()) and not any(
            isinstance(permission, AllowAny) for permission in self.view.get_permissions()
        )

    def _error_response(self, code: str, description: str) -> dict:
        response = self._get_response_for_code(ErrorSerializer, code)
        response["description"] = description
        if code in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[code]
        return response
