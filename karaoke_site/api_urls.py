"""Every /api/ address, in one place (the schema and the fuzz test walk them)."""

from django.urls import path, re_path

from jobs import api as jobs_api
from queue_app import api as rooms_api
from songs import api as songs_api

# A UUID as it is written (8-4-4-4-12): anything else is no song or job, a 404.
UUID = r"(?P<pk>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
CODE = r"(?P<code>[A-Za-z0-9]{4,8})"

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
    re_path(r"^rooms/?$", rooms_api.RoomCreateApi.as_view(), name="api-room-create"),
    re_path(rf"^rooms/{CODE}/?$", rooms_api.RoomDetailApi.as_view(), name="api-room-detail"),
    re_path(rf"^rooms/{CODE}/join/?$", rooms_api.RoomJoinApi.as_view(), name="api-room-join"),
    re_path(rf"^rooms/{CODE}/leave/?$", rooms_api.RoomLeaveApi.as_view(), name="api-room-leave"),
    re_path(rf"^rooms/{CODE}/singers/(?P<singer_id>[0-9]{{1,18}})/?$", rooms_api.SingerDetailApi.as_view(),
            name="api-room-singer"),
    re_path(rf"^rooms/{CODE}/history/?$", rooms_api.RoomHistoryApi.as_view(), name="api-room-history"),
    re_path(rf"^rooms/{CODE}/queue/?$", rooms_api.QueueApi.as_view(), name="api-room-queue"),
    re_path(rf"^rooms/{CODE}/queue/reorder/?$", rooms_api.QueueReorderApi.as_view(), name="api-room-queue-reorder"),
    re_path(rf"^rooms/{CODE}/queue/(?P<entry_id>[0-9]{{1,18}})/?$", rooms_api.QueueEntryApi.as_view(), name="api-room-queue-entry"),
    re_path(rf"^rooms/{CODE}/player/?$", rooms_api.PlayerApi.as_view(), name="api-room-player"),
    re_path(rf"^rooms/{CODE}/requests/?$", rooms_api.RequestListApi.as_view(), name="api-room-requests"),
    re_path(rf"^rooms/{CODE}/requests/(?P<request_id>[0-9]{{1,18}})/?$", rooms_api.RequestDetailApi.as_view(),
            name="api-room-request"),
    re_path(rf"^rooms/{CODE}/youtube/?$", rooms_api.RoomYoutubeSearchApi.as_view(), name="api-room-youtube"),
]
