"""The inbound-mail webhook: a mail provider POSTs one raw MIME message per request.

Authenticated by a shared secret in ``X-Redress-Inbound-Secret`` (``REDRESS_INBOUND_SECRET``),
checked before the body is read, so nobody without it can make us buffer a message.
Answers: 503 when no secret is configured, 403 for a missing or wrong one, 415 for another
content type, 413 over ``REDRESS_INBOUND_MAX_BYTES`` (a chunked body, which declares no
length, is read up to the limit and refused past it), 400 for an empty body, 202 with what
became of a new message (accepted, ignored, held for review or quarantined: unparseable mail is
stored, not refused) and 200 for one already stored. A database failure is a 503, so the provider retries.
"""

import hmac
import logging

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.rest.parsers import read_bounded
from notifications.ingest import ingest_message
from notifications.models import InboundStatus

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Redress-Inbound-Secret"


class RawMIMEParser(BaseParser):
    """The body as bytes, at most ``REDRESS_INBOUND_MAX_BYTES``, read no further than that."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        body = read_bounded(
            stream, parser_context, limit=settings.REDRESS_INBOUND_MAX_BYTES, what="message"
        )
        return body or b""


class OctetStreamMIMEParser(RawMIMEParser):
    """The same, for providers that label the raw message as opaque bytes."""

    media_type = "application/octet-stream"


class InboundNotConfigured(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "inbound_email_not_configured"
    default_detail = (
        "Inbound email is not configured: set REDRESS_INBOUND_SECRET on the server and "
        f"send it in the {SECRET_HEADER} header."
    )


class InboundUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "inbound_email_unavailable"
    default_detail = "The message could not be stored just now; send it again later."


class SecretRefused(AuthenticationFailed):
    # 403, not 401: there is no WWW-Authenticate scheme for a shared-secret header.
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "inbound_secret_refused"


_RESULT = inline_serializer(
    "InboundEmailResult",
    {
        "id": serializers.IntegerField(),
        # A duplicate answers with what became of the stored message, reviewed or not.
        "status": serializers.ChoiceField(choices=InboundStatus.values),
        "reason": serializers.CharField(),
        "reference": serializers.CharField(allow_blank=True),
        "duplicate": serializers.BooleanField(),
    },
)


class InboundEmailView(APIView):
    authentication_classes: list = []  # the shared secret is the authentication
    permission_classes: list = []
    parser_classes = [RawMIMEParser, OctetStreamMIMEParser]

    @extend_schema(
        summary="Receive one raw email (inbound-mail webhook)",
        parameters=[
            OpenApiParameter(
                SECRET_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="The shared secret, REDRESS_INBOUND_SECRET on the server.",
            )
        ],
        request={"message/rfc822": bytes, "application/octet-stream": bytes},
        responses={
            202: OpenApiResponse(_RESULT, description="Stored for the first time."),
            200: OpenApiResponse(_RESULT, description="Already stored; nothing done."),
            400: OpenApiResponse(description="Empty body."),
            403: OpenApiResponse(description="Missing or wrong shared secret."),
            413: OpenApiResponse(description="Over REDRESS_INBOUND_MAX_BYTES."),
            415: OpenApiResponse(description="Not message/rfc822 or application/octet-stream."),
            503: OpenApiResponse(description="Not configured, or storage unavailable."),
        },
    )
    def post(self, request):
        self._check_secret(request)
        raw = request.data  # parsed only now, after the secret was checked
        if not isinstance(raw, bytes) or not raw:
            return Response(
                {
                    "error": "empty_message",
                    "message": "Send the raw message (RFC 822 bytes) as the request body.",
                    "details": {},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = ingest_message(raw, source=f"webhook:{request.META.get('REMOTE_ADDR', '')}")
        except Exception as exc:
            # ingest stores bad mail instead of raising, so this is the database or storage
            # failing: a 503 makes the provider keep the message and retry.
            logger.exception("Inbound webhook could not store a message")
            raise InboundUnavailable() from exc
        inbound = result.inbound
        return Response(
            {
                "id": inbound.pk,
                "status": inbound.status,
                "reason": inbound.reason,
                "reference": result.reference,
                "duplicate": result.duplicate,
            },
            status=status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED,
        )

    def _check_secret(self, request) -> None:
        expected = settings.REDRESS_INBOUND_SECRET
        if not expected:
            raise InboundNotConfigured()
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise SecretRefused(f"Missing or wrong {SECRET_HEADER} header.")
