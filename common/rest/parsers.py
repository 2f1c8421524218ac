"""Request parsing with limits: a client never makes us buffer more than we accept."""

from io import BytesIO

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def read_bounded(stream, parser_context, *, limit: int, what: str) -> bytes | None:
    """The body, read no further than ``limit`` bytes; 413 naming ``what`` beyond it.

    A declared ``Content-Length`` over the limit is refused before reading anything. Returns
    None when the request has no body stream.
    """
    request = (parser_context or {}).get("request")
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    try:
        declared_size = int(declared) if declared else 0
    except ValueError:
        declared_size = 0
    if declared_size > limit:
        raise RequestTooLarge(
            f"The {what} is {declared_size:,} bytes; the limit is {limit:,} bytes."
        )
    if stream is None:
        return None
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(f"The {what} is over the limit of {limit:,} bytes.")
    return body


class BoundedJSONParser(JSONParser):
    """JSON only, at most ``REDRESS_MAX_JSON_BODY_BYTES``, read no further than that."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded(
            stream,
            parser_context,
            limit=settings.REDRESS_MAX_JSON_BODY_BYTES,
            what="request body",
        )
        if body is None:
            return super().parse(stream, media_type, parser_context)
        try:
            data = super().parse(BytesIO(body), media_type, parser_context)
        except RecursionError as exc:
            # ``[[[[…`` fits easily under the size limit; json gives up on the depth with a
            # RecursionError, which is not a ValueError and would otherwise be a 500.
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        _refuse_lone_surrogates(data)
        return data


def _refuse_lone_surrogates(data) -> None:
    """JSON may escape half a UTF-16 pair (``"\\ud800"``); that is not text we can store.

    Checked once here, keys included, so no later step (database, error rendering) meets a
    string that cannot be encoded. Iterative: the document may be deeply nested.
    """
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = item[exc.start].encode("unicode_escape").decode("ascii")
                raise ParseError(
                    f"JSON parse error - the text contains a lone surrogate ({bad}); "
                    "send valid Unicode (a surrogate pair, or the character itself)."
                ) from None
