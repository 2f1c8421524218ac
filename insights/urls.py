"""URLs of the insights: the read-only API under /api/, the pages under /insights/."""

from django.urls import include, path

from insights import api, views

api_patterns = (
    [
        path("insights/pareto/", api.ParetoView.as_view(), name="pareto"),
        path("insights/trends/", api.TrendsView.as_view(), name="trends"),
        path("insights/repeats/", api.RepeatsView.as_view(), name="repeats"),
        path("insights/kpis/", api.KpiView.as_view(), name="kpis"),
        path("insights/alerts/", api.AlertsView.as_view(), name="alerts"),
        path(
            "corrective-actions/<int:action_id>/effectiveness/",
            api.EffectivenessView.as_view(),
            name="effectiveness",
        ),
    ],
    "insights-api",
)

page_patterns = (
    [
        path("", views.pareto_page, name="pareto"),
        path("dashboard/", views.dashboard_page, name="dashboard"),
        path("trends/", views.trends_page, name="trends"),
        path("repeats/", views.repeats_page, name="repeats"),
        path("kpis/", views.kpis_page, name="kpis"),
        path(
            "corrective-actions/<int:action_id>/",
            views.effectiveness_page,
            name="effectiveness",
        ),
    ],
    "insights",
)

urlpatterns = [
    path("api/", include(api_patterns)),
    path("insights/", include(page_patterns)),
]
