"""WebSocket consumers of the songs app: thin, they only read and render."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.html import format_html

from common.consumers import GroupEventsMixin
from common.push import csrf_token_from, render_push, since_from
from jobs.events import JOBS_GROUP
from songs import selectors
from songs.events import LIBRARY_GROUP
from songs.models import Song
from songs.pipeline.plan import DEFAULT_REPROCESS_STAGE, stage_names

GROUPS = (LIBRARY_GROUP, JOBS_GROUP)


class LibraryHtmlConsumer(GroupEventsMixin, AsyncWebsocketConsumer):
    """`/ws/library/html/` (staff): the Library page's rows as HTML, for the htmx WebSocket extension.

    Every message is elements swapped by id out of band: `_song.html` rows (`song-<id>`),
    their `_song_progress.html` part (`song-<id>-progress`), or an empty `song-<id>` with
    `hx-swap-oob="delete"` for a song deleted for good. First, the rows of the songs with an
    active job and of every song changed since `?since=` (when the page was drawn).
    """

    async def connect(self):
        user = self.scope["user"]
        if not (user.is_authenticated and user.is_staff):
            await self.close(code=4403)
            return
        self.csrf_token = csrf_token_from(self.scope)
        for group in GROUPS:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send(text_data=await self._state(since_from(self.scope)))

    async def disconnect(self, code):
        for group in GROUPS:
            await self.channel_layer.group_discard(group, self.channel_name)

    @database_sync_to_async
    def _state(self, since) -> str:
        stages = stage_names()
        songs = selectors.song_rows_to_resync(since=since)
        return "".join(self._render("songs/partials/_song.html", song=song, stages=stages, default_stage=DEFAULT_REPROCESS_STAGE) for song in songs)

    @database_sync_to_async
    def _row(self, song_id) -> str:
        try:
            song = selectors.song_row(song_id=song_id)
        except Song.DoesNotExist:
            return ""
        return self._render(
            "songs/partials/_song.html", song=song, stages=stage_names(), default_stage=DEFAULT_REPROCESS_STAGE
        )

    def _render(self, template: str, **context) -> str:
        return render_push(template, context, csrf_token=self.csrf_token)

    async def _send(self, html: str) -> None:
        if html:
            await self.send(text_data=html)

    # One handler per event type.
    async def job_progress(self, event):
        # The frequent one (every step of every running job, to every open page): rendered
        # from the event's payload, without a database read; it only moves the bar. The
        # rarer changes (a job starting or ending, a song's title or status) re-render the
        # row with one read, since they change its badge, its buttons and its parts.
        job = event["job"]
        await self._send(self._render("songs/partials/_song_progress.html", song_id=job["song"], job=job))

    async def job_updated(self, event):
        await self._send(await self._row(event["job"]["song"]))

    async def job_finished(self, event):
        await self._send(await self._row(event["job"]["song"]))

    async def song_changed(self, event):
        # With the library's count: a song added (or deleted, restored) anywhere changes it.
        await self._send(await self._row(event["song"]["id"]) + await self._count())

    async def song_deleted(self, event):
        html = format_html('<li id="song-{}" hx-swap-oob="delete"></li>', event["song"]["id"])
        await self._send(html + await self._count())

    @database_sync_to_async
    def _count(self) -> str:
        """The unfiltered page's count (`song-count`; a filtered page has its own, not swapped)."""
        return self._render("songs/partials/_song_count.html", total=selectors.song_count(), oob=True)

    async def worker_heartbeat(self, event):
        pass  # the Library shows no workers; the jobs group carries these too
