"""The party's pages: rooms for hosts, the singer's room (where the QR code lands), the
host's console and the TV."""

from django.urls import path

from queue_app import views

app_name = "rooms"

urlpatterns = [
    # --- singers and hosts (queue_app/views.py, first part)
    path("", views.room_list, name="list"),
    path("<str:code>/", views.room_singer, name="singer"),
    path("<str:code>/host/", views.room_host, name="host"),
    # --- the TV (queue_app/views.py, last part)
    path("<str:code>/tv/", views.room_tv, name="tv"),
]
