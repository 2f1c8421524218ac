from django.urls import path

from api import remedies, views

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="api-token"),
    path("auth/tokens/", views.ApiTokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<str:key>/", views.ApiTokenDetailView.as_view(), name="api-token-detail"),
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
        "complaints/<str:reference>/category/",
        views.ComplaintCategoryView.as_view(),
        name="complaint-category",
    ),
    path(
        "complaints/<str:reference>/merge/",
        views.ComplaintMergeView.as_view(),
        name="complaint-merge",
    ),
    path(
        "complaints/<str:reference>/holding-reply/",
        views.ComplaintHoldingReplyView.as_view(),
        name="complaint-holding-reply",
    ),
    path(
        "complaints/<str:reference>/regulation/",
        views.ComplaintRegulationView.as_view(),
        name="complaint-regulation",
    ),
    path(
        "complaints/<str:reference>/written-response/",
        views.ComplaintWrittenResponseView.as_view(),
        name="complaint-written-response",
    ),
    path(
        "complaints/<str:reference>/delay-notification/",
        views.ComplaintDelayNotificationView.as_view(),
        name="complaint-delay-notification",
    ),
    path(
        "complaints/<str:reference>/provisional-credit/",
        views.ComplaintProvisionalCreditView.as_view(),
        name="complaint-provisional-credit",
    ),
    path(
        "complaints/<str:reference>/emails/<int:email_id>/resend/",
        views.ComplaintEmailResendView.as_view(),
        name="complaint-email-resend",
    ),
    path("root-causes/", views.RootCauseListView.as_view(), name="root-cause-list"),
    path(
        "complaints/<str:reference>/recoveries/",
        remedies.ComplaintRecoveryView.as_view(),
        name="complaint-recoveries",
    ),
    path(
        "recoveries/awaiting-approval/",
        remedies.ApprovalQueueView.as_view(),
        name="recovery-approvals",
    ),
    path(
        "recoveries/<int:action_id>/decision/",
        remedies.RecoveryDecisionView.as_view(),
        name="recovery-decision",
    ),
    path(
        "recoveries/<int:action_id>/delivery/",
        remedies.RecoveryDeliveryView.as_view(),
        name="recovery-delivery",
    ),
    path("surveys/<str:token>/", remedies.SurveyView.as_view(), name="survey"),
    path(
        "corrective-actions/",
        remedies.CorrectiveActionListView.as_view(),
        name="corrective-action-list",
    ),
    path(
        "corrective-actions/<int:action_id>/status/",
        remedies.CorrectiveActionStatusView.as_view(),
        name="corrective-action-status",
    ),
    path(
        "corrective-actions/<int:action_id>/complaints/",
        remedies.CorrectiveActionLinkView.as_view(),
        name="corrective-action-link",
    ),
]
