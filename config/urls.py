from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from api.errors import no_such_endpoint
from config.favicon import favicon
from desk import sso
from desk.signin import AdminPasswordStep

urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    # The customer's complaint form at the root; the desk under /desk/ (desk.urls).
    path("", include("desk.urls")),
    # Insights: the API under /api/insights/ (and a corrective action's effectiveness), the
    # pages under /insights/.
    path("", include("insights.urls")),
    # Before the admin's own: its sign-in asks for the second factor like the desk's.
    path("admin/login/", AdminPasswordStep.as_view(), name="admin-login"),
    path("admin/", admin.site.urls),
    # Single sign-on (OpenID Connect); 404 until configured.
    path("oidc/authenticate/", sso.Start.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.Callback.as_view(), name="oidc-callback"),
    path("api/", include("api.urls")),
    path("api/", include("escalation.urls")),
    path("api/", include("notifications.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Last: any other address under /api/ is the API's JSON not_found, whatever DEBUG is.
    re_path(r"^api/", no_such_endpoint, name="api-no-such-endpoint"),
]

# A URL no pattern matches: JSON under /api/, the site's page elsewhere.
handler404 = "api.errors.not_found"
# Every pooled database connection busy past the pool's timeout: 503 with Retry-After.
handler500 = "config.overload.server_error"
