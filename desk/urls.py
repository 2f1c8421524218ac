"""URLs of the web pages: the portal at the root, the desk and board under /desk/."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from desk import (
    api_tokens,
    attachments,
    board,
    bulk,
    corrective_actions,
    desk,
    held_mail,
    macros,
    merge,
    portal,
    recategorise,
    recoveries,
    saved_views,
    second_factor,
    signin,
)

portal_patterns = (
    [
        path("", portal.complain, name="complain"),
        path("complaint/received/<str:token>/", portal.received, name="received"),
        path("track/<str:token>/", portal.track, name="track"),
        path("track/<str:token>/reply/", portal.track_reply, name="track-reply"),
        path("track/<str:token>/escalate/", portal.track_escalate, name="track-escalate"),
        path(
            "track/<str:token>/files/<int:attachment_id>/",
            attachments.track_download,
            name="track-file",
        ),
        path("survey/<str:token>/", portal.survey, name="survey"),
        path("survey/<str:token>/thanks/", portal.survey_thanks, name="survey-thanks"),
        path("confirm/<str:token>/", portal.confirm_address, name="confirm"),
    ],
    "portal",
)

desk_patterns = (
    [
        path("login/", signin.PasswordStep.as_view(), name="login"),
        path("login/code/", signin.code_step, name="login-code"),
        path("two-factor/", second_factor.enrol, name="two-factor"),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("api-tokens/", api_tokens.token_list, name="api-tokens"),
        path("api-tokens/revoke-all/", api_tokens.token_revoke_all, name="api-tokens-revoke-all"),
        path("api-tokens/<str:key>/revoke/", api_tokens.token_revoke, name="api-token-revoke"),
        path("", desk.my_queue, name="my-queue"),
        path("team/", desk.team_queue, name="team-queue"),
        path("unassigned/", desk.unassigned_queue, name="unassigned-queue"),
        path("views/new/", saved_views.view_new, name="saved-view-new"),
        path("views/<int:view_id>/", saved_views.view_open, name="saved-view"),
        path("views/<int:view_id>/delete/", saved_views.view_delete, name="saved-view-delete"),
        path("notifications/", desk.notifications, name="notifications"),
        path(
            "notifications/preferences/",
            desk.notification_preferences,
            name="notification-preferences",
        ),
        path(
            "notifications/<int:notification_id>/",
            desk.open_notification,
            name="open-notification",
        ),
        path("held-mail/", held_mail.held_mail, name="held-mail"),
        path("held-mail/<int:inbound_id>/review/", held_mail.review, name="held-mail-review"),
        path("bulk/", bulk.bulk, name="bulk"),
        path("macros/", macros.macro_list, name="macros"),
        path("macros/new/", macros.macro_new, name="macro-new"),
        path("macros/<int:macro_id>/edit/", macros.macro_edit, name="macro-edit"),
        path("macros/<int:macro_id>/archive/", macros.macro_archive, name="macro-archive"),
        path("board/", board.escalation_board, name="board"),
        path("board/<str:reference>/take/", board.take, name="board-take"),
        path("board/<str:reference>/assign/", board.assign, name="board-assign"),
        path("board/<str:reference>/move/", board.move, name="board-move"),
        path("board/<str:reference>/escalate/", board.escalate, name="board-escalate"),
        path("approvals/", recoveries.approvals, name="approvals"),
        path("approvals/<int:action_id>/decide/", recoveries.decide, name="decide"),
        path("corrective-actions/", corrective_actions.action_list, name="corrective-actions"),
        path(
            "corrective-actions/new/",
            corrective_actions.action_new,
            name="corrective-action-new",
        ),
        path(
            "corrective-actions/<int:action_id>/edit/",
            corrective_actions.action_edit,
            name="corrective-action-edit",
        ),
        path(
            "corrective-actions/<int:action_id>/status/",
            corrective_actions.action_status,
            name="corrective-action-status",
        ),
        path("complaints/<str:reference>/", desk.complaint_page, name="complaint"),
        path("complaints/<str:reference>/acknowledge/", desk.acknowledge, name="acknowledge"),
        path("complaints/<str:reference>/reply/", desk.reply, name="reply"),
        path("complaints/<str:reference>/macro/", macros.use_macro, name="use-macro"),
        path("complaints/<str:reference>/note/", desk.note, name="note"),
        path("complaints/<str:reference>/hold/", desk.hold, name="hold"),
        path(
            "complaints/<str:reference>/written-response/",
            desk.written_response,
            name="written-response",
        ),
        path(
            "complaints/<str:reference>/delay-notification/",
            desk.delay_notification,
            name="delay-notification",
        ),
        path("complaints/<str:reference>/resolve/", desk.resolve, name="resolve"),
        path("complaints/<str:reference>/close-loop/", desk.close_loop, name="close-loop"),
        path("complaints/<str:reference>/reopen/", desk.reopen, name="reopen"),
        path("complaints/<str:reference>/assign/", desk.assign, name="assign"),
        path("complaints/<str:reference>/escalate/", desk.escalate, name="escalate"),
        path("complaints/<str:reference>/held-email/", desk.review_held, name="review-held"),
        path("complaints/<str:reference>/resend-email/", desk.resend_email, name="resend-email"),
        path(
            "complaints/<str:reference>/tracking-link/",
            desk.tracking_link,
            name="tracking-link",
        ),
        path(
            "complaints/<str:reference>/link-customer/",
            desk.link_customer,
            name="link-customer",
        ),
        path("complaints/<str:reference>/merge/", merge.merge, name="merge"),
        path(
            "complaints/<str:reference>/files/<int:attachment_id>/",
            attachments.desk_download,
            name="attachment",
        ),
        path(
            "complaints/<str:reference>/category/",
            recategorise.recategorise,
            name="recategorise",
        ),
        path("complaints/<str:reference>/recovery/", recoveries.offer, name="recovery"),
        path(
            "complaints/<str:reference>/recovery/<int:action_id>/deliver/",
            recoveries.deliver,
            name="deliver",
        ),
    ],
    "desk",
)

urlpatterns = [
    path("", include(portal_patterns)),
    path("desk/", include(desk_patterns)),
]
