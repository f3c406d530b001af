from django.urls import path

from songs import views

app_name = "songs"

urlpatterns = [
    path("", views.library, name="library"),
    path("add", views.song_add, name="add"),
    path("upload", views.song_upload, name="upload"),
    path("youtube", views.youtube_search, name="youtube-search"),
    path("<uuid:song_id>/", views.song_row, name="row"),
    path("<uuid:song_id>/edit", views.song_edit, name="edit"),
    path("<uuid:song_id>/delete", views.song_delete, name="delete"),
    path("<uuid:song_id>/restore", views.song_restore, name="restore"),
    path("<uuid:song_id>/reprocess", views.song_reprocess, name="reprocess"),
    path("<uuid:song_id>/destroy", views.song_hard_delete, name="hard-delete"),
]
