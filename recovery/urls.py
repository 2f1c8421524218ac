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
    path(
        "complaints/<str:reference>/hold/", views.ComplaintHoldView.as_view(), name="complaint-hold"
    ),
    path(
        "complaints/<str:reference>/assignment/",
        views.ComplaintAssignmentView.as_view(),
        name="complaint-assignment",
    ),
    path(
        "complaints/<str:reference>/holding-reply/",
        views.ComplaintHoldingReplyView.as_view(),
        name="complaint-holding-reply",
    ),
    path("root-causes/", views.RootCauseListView.as_view(), name="root-cause-list"),
]
