from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

# A URL no pattern matches: JSON under /api/, the site's page elsewhere.
handler404 = "recovery.api.errors.not_found"
