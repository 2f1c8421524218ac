from django.urls import path

from recovery.api import views

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="api-token"),
    path("complaints/", views.ComplaintListCreateView.as_view(), name="complaint-list"),
    path(
        "complaints/<str:reference>/",
        views.ComplaintDetailView.as_view(),
        name="complaint-detail",
    ),
    path(
        "complaints/<str:reference>/transitions/",
        views.ComplaintTransitionView.as_view(),
        name="complaint-transitions",
    ),
    path(
        "complaints/<str:reference>/messages/",
        views.ComplaintMessageView.as_view(),
        name="complaint-messages",
    ),
    path("root-causes/", views.RootCauseListView.as_view(), name="root-cause-list"),
]
