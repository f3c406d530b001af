"""WebSocket addresses of every app, in one list for the ASGI router."""

from django.urls import path

from jobs import consumers as job_consumers
from queue_app import consumers as room_consumers
from songs import consumers as song_consumers

websocket_urlpatterns = [
    path("ws/jobs/", job_consumers.JobsJsonConsumer.as_asgi()),
    path("ws/jobs/html/", job_consumers.JobsHtmlConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", job_consumers.JobJsonConsumer.as_asgi()),
    path("ws/library/html/", song_consumers.LibraryHtmlConsumer.as_asgi()),
    path("ws/rooms/<str:code>/", room_consumers.RoomJsonConsumer.as_asgi()),
    path("ws/rooms/<str:code>/html/", room_consumers.RoomHtmlConsumer.as_asgi()),
]
