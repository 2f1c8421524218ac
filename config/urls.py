from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

urlpatterns = [
    # The customer's complaint form at the root; the desk under /desk/ (recovery.web.urls).
    path("", include("recovery.web.urls")),
    # Insights: the API under /api/insights/ (and a corrective action's effectiveness), the
    # pages under /insights/.
    path("", include("recovery.insights.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("recovery.urls")),
    path("api/", include("escalation.urls")),
    path("api/", include("notifications.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
