"""DRF throttles that count by the one client-address rule (common.client_address)."""

from rest_framework.throttling import ScopedRateThrottle

from common.client_address import client_address


class ClientAddressThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` keyed by ``client_address``: a forged X-Forwarded-For is ignored."""

    def get_ident(self, request):
        return client_address(request) or "unknown"
