"""Every /api/ address, in one place (the schema and the fuzz test walk them)."""

from django.urls import path, re_path

from jobs import api as jobs_api
from songs import api as songs_api

UUID = r"(?P<pk>[0-9a-fA-F-]{36})"

urlpatterns = [
    re_path(r"^songs/import/?$", songs_api.SongImportApi.as_view(), name="api-song-import"),
    re_path(r"^songs/upload/?$", songs_api.SongUploadApi.as_view(), name="api-song-upload"),
    path("songs/", songs_api.SongListApi.as_view(), name="api-song-list"),
    re_path(rf"^songs/{UUID}/?$", songs_api.SongDetailApi.as_view(), name="api-song-detail"),
    re_path(rf"^songs/{UUID}/lyrics/?$", songs_api.SongLyricsApi.as_view(), name="api-song-lyrics"),
    re_path(rf"^songs/{UUID}/restore/?$", songs_api.SongRestoreApi.as_view(), name="api-song-restore"),
    re_path(rf"^songs/{UUID}/reprocess/?$", songs_api.SongReprocessApi.as_view(), name="api-song-reprocess"),
    re_path(r"^youtube/search/?$", songs_api.YoutubeSearchApi.as_view(), name="api-youtube-search"),
    path("jobs/", jobs_api.JobListApi.as_view(), name="api-job-list"),
    re_path(r"^jobs/stats/?$", jobs_api.JobStatsApi.as_view(), name="api-job-stats"),
    re_path(rf"^jobs/{UUID}/?$", jobs_api.JobDetailApi.as_view(), name="api-job-detail"),
    re_path(rf"^jobs/{UUID}/retry/?$", jobs_api.JobRetryApi.as_view(), name="api-job-retry"),
    re_path(rf"^jobs/{UUID}/cancel/?$", jobs_api.JobCancelApi.as_view(), name="api-job-cancel"),
]
