"""Request parsing with limits: a client never makes us buffer more than we accept."""

from io import BytesIO

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class BoundedJSONParser(JSONParser):
    """JSON only, at most ``REDRESS_MAX_JSON_BODY_BYTES``, read no further than that."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.REDRESS_MAX_JSON_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            declared_size = int(declared) if declared else 0
        except ValueError:
            declared_size = 0
        if declared_size > limit:
            raise RequestTooLarge(
                f"The request body is {declared_size:,} bytes; the limit is {limit:,} bytes."
            )
        if stream is None:
            return super().parse(stream, media_type, parser_context)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(f"The request body is over the limit of {limit:,} bytes.")
        return super().parse(BytesIO(body), media_type, parser_context)
