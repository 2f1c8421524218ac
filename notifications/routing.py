from django.urls import path, re_path

from notifications import consumers

websocket_urlpatterns = [
    path("ws/events/", consumers.StaffEventsConsumer.as_asgi()),
    path("ws/track/<str:token>/", consumers.TrackingConsumer.as_asgi()),
    # Last: any other path is refused with a close code; URLRouter would raise instead.
    re_path(r"", consumers.unknown_path),
]
