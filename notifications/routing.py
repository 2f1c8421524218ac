from django.urls import path

from notifications import consumers

websocket_urlpatterns = [
    path("ws/events/", consumers.StaffEventsConsumer.as_asgi()),
    path("ws/track/<str:token>/", consumers.TrackingConsumer.as_asgi()),
]
