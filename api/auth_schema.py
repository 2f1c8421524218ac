"""OpenAPI (drf-spectacular) description of Redress's own authentication class."""

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme


class RedressTokenScheme(KnoxTokenScheme):
    # Same scheme name as DRF's token authentication had, so clients' schema is unchanged.
    target_class = "recovery.auth.RedressTokenAuthentication"
    name = "tokenAuth"
