from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from karaoke_site import health, views
from songs import media_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name none (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("library/", include("songs.urls")),
    path("jobs/", include("jobs.urls")),
    path("rooms/", include("queue_app.urls")),
    path("api/", views.ApiRootApi.as_view(), name="api-root"),
    path("api/", include("karaoke_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from a URL: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("media/songs/<uuid:song_id>/<str:name>", media_views.song_file, name="song-file"),
    path("media/songs/<uuid:song_id>/stream/<slug:stream>/<str:name>", media_views.song_stream_file,
         name="song-stream-file"),
]

# The whole site's error answers (karaoke_site/views.py): JSON under /api/, pages elsewhere.
handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
