from django.urls import path

from notifications import api, inbound_api

urlpatterns = [
    path("notifications/", api.InboxView.as_view(), name="inbox"),
    path("notifications/unread-count/", api.UnreadCountView.as_view(), name="inbox-unread"),
    path("notifications/mark-read/", api.MarkReadView.as_view(), name="inbox-mark-read"),
    path("notifications/preferences/", api.PreferenceView.as_view(), name="inbox-preferences"),
    path("inbound-email/", inbound_api.InboundEmailView.as_view(), name="inbound-email"),
]
