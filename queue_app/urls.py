"""The party's pages: rooms for hosts, the singer's room (where the QR code lands), the
host's console and the TV."""

from django.urls import path

from queue_app import views

app_name = "rooms"

urlpatterns = [
    # --- singers and hosts (queue_app/views.py, first part)
    path("", views.room_list, name="list"),
    path("<str:code>/", views.room_singer, name="singer"),
    path("<str:code>/join", views.room_join, name="join"),
    path("<str:code>/leave", views.room_leave, name="leave"),
    path("<str:code>/search", views.room_search, name="search"),
    path("<str:code>/queue/add", views.room_queue_add, name="add"),
    path("<str:code>/queue/<int:entry_id>/remove", views.room_queue_remove, name="remove"),
    path("<str:code>/queue/<int:entry_id>/key", views.room_queue_key, name="key"),
    path("<str:code>/youtube", views.room_youtube, name="youtube"),
    path("<str:code>/requests", views.room_request, name="request"),
    path("<str:code>/requests/<int:request_id>/cancel", views.room_request_cancel, name="request-cancel"),
    path("<str:code>/host/", views.room_host, name="host"),
    path("<str:code>/host/move", views.host_move, name="move"),
    path("<str:code>/host/<int:entry_id>/remove", views.host_remove, name="host-remove"),
    path("<str:code>/host/<int:entry_id>/unpin", views.host_unpin, name="unpin"),
    path("<str:code>/host/<int:entry_id>/key", views.host_key, name="host-key"),
    path("<str:code>/host/player", views.host_player, name="player"),
    path("<str:code>/host/settings", views.host_settings, name="settings"),
    path("<str:code>/host/requests/<int:request_id>", views.host_request_decide, name="request-decide"),
    # --- the TV (queue_app/views.py, last part)
    path("<str:code>/tv/", views.room_tv, name="tv"),
]
