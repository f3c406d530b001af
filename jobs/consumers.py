"""WebSocket consumers of the jobs app: thin, they only read and forward (or render)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from common.consumers import GroupEventsMixin
from common.push import csrf_token_from, render_push, since_from
from jobs import selectors
from jobs.events import JOBS_GROUP, job_group, job_payload
from jobs.models import Job
from jobs.selectors import cluster_health


def _can_watch_jobs(user) -> bool:
    return user.is_authenticated and user.is_staff


class JobsJsonConsumer(GroupEventsMixin, AsyncJsonWebsocketConsumer):
    """`/ws/jobs/`: the workers and the active jobs first, then every change, as JSON."""

    async def connect(self):
        if not _can_watch_jobs(self.scope["user"]):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(JOBS_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "state", "workers": await self._workers(), "jobs": await self._active_jobs()})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(JOBS_GROUP, self.channel_name)

    @database_sync_to_async
    def _workers(self) -> list[dict]:
        return [
            {"cluster": health.cluster, "alive": health.alive, "age_seconds": health.age_seconds}
            for health in cluster_health()
        ]

    @database_sync_to_async
    def _active_jobs(self) -> list[dict]:
        return [job_payload(job) for job in Job.objects.filter(status__in=Job.ACTIVE).order_by("created_at")]

    # One handler per event type; each forwards the event as it is.
    async def worker_heartbeat(self, event):
        await self.send_json(event)

    async def job_updated(self, event):
        await self.send_json(event)

    async def job_progress(self, event):
        await self.send_json(event)

    async def job_finished(self, event):
        await self.send_json(event)


class JobJsonConsumer(GroupEventsMixin, AsyncJsonWebsocketConsumer):
    """`/ws/jobs/<id>/`: one job (staff), `{"type": "state", "job": {...}}` first, then its
    events as JSON. Close codes: 4403 not staff, 4404 no such job."""

    async def connect(self):
        self.group = None
        if not _can_watch_jobs(self.scope["user"]):
            await self.close(code=4403)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        self.group = job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # After group_add: an event sent meanwhile arrives after this state, never lost.
        state = await self._state(job_id)
        if state is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=4404)
            return
        await self.accept()
        await self.send_json(state)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @database_sync_to_async
    def _state(self, job_id) -> dict | None:
        job = Job.objects.filter(pk=job_id).first()
        return {"type": "state", "job": job_payload(job)} if job else None

    async def job_updated(self, event):
        await self.send_json(event)

    async def job_progress(self, event):
        await self.send_json(event)

    async def job_finished(self, event):
        await self.send_json(event)


class JobsHtmlConsumer(GroupEventsMixin, AsyncWebsocketConsumer):
    """`/ws/jobs/html/` (staff): the Jobs page's rows as HTML, for the htmx WebSocket extension.

    Every message is elements swapped by id out of band: `_job.html` rows (`job-<id>`),
    their `_job_progress.html` part (`job-<id>-progress`), and `_clusters.html`. First,
    the rows of the active jobs and of every job changed since `?since=` (when the page
    was drawn), so a page whose socket reconnects catches up.
    """

    async def connect(self):
        if not _can_watch_jobs(self.scope["user"]):
            await self.close(code=4403)
            return
        self.csrf_token = csrf_token_from(self.scope)
        await self.channel_layer.group_add(JOBS_GROUP, self.channel_name)
        await self.accept()
        await self.send(text_data=await self._state(since_from(self.scope)))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(JOBS_GROUP, self.channel_name)

    @database_sync_to_async
    def _state(self, since) -> str:
        jobs = selectors.job_rows_to_resync(since=since)
        return "".join(self._render("jobs/partials/_job.html", job=job) for job in jobs)

    @database_sync_to_async
    def _row(self, job_id) -> str:
        try:
            return self._render("jobs/partials/_job.html", job=selectors.job_row(job_id=job_id))
        except Job.DoesNotExist:  # gone with its song
            return ""

    @database_sync_to_async
    def _clusters(self) -> str:
        return self._render("jobs/partials/_clusters.html", clusters=cluster_health())

    def _render(self, template: str, **context) -> str:
        return render_push(template, context, csrf_token=self.csrf_token)

    async def _send(self, html: str) -> None:
        if html:
            await self.send(text_data=html)

    # One handler per event type.
    async def job_progress(self, event):
        # The frequent one (every step of every running job, to every open page): rendered
        # from the event's payload, without a database read. It only moves the bar and
        # its words; what else changes (badge, buttons, times) comes with the rarer
        # job.updated / job.finished, which read the row once.
        await self._send(self._render("jobs/partials/_job_progress.html", job=event["job"]))

    async def job_updated(self, event):
        await self._send(await self._row(event["job"]["id"]))

    async def job_finished(self, event):
        await self._send(await self._row(event["job"]["id"]))

    async def worker_heartbeat(self, event):
        await self._send(await self._clusters())
