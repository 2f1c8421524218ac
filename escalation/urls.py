from django.urls import path

from escalation import api

urlpatterns = [
    path(
        "complaints/<str:reference>/escalations/",
        api.ComplaintEscalationView.as_view(),
        name="complaint-escalations",
    ),
    path(
        "complaints/<str:reference>/escalation-requests/",
        api.EscalationRequestView.as_view(),
        name="complaint-escalation-requests",
    ),
    path("sla/compliance/", api.ComplianceView.as_view(), name="sla-compliance"),
    path(
        "regulatory-profiles/",
        api.RegulatoryProfileListView.as_view(),
        name="regulatory-profile-list",
    ),
    path(
        "regulatory-profiles/<str:code>/",
        api.RegulatoryProfileDetailView.as_view(),
        name="regulatory-profile-detail",
    ),
]
