"""WebSocket consumers of the jobs app: thin, they only read and forward."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.events import JOBS_GROUP, job_payload
from jobs.models import Job
from jobs.selectors import cluster_health


def _can_watch_jobs(user) -> bool:
    return user.is_authenticated and user.is_staff


class JobsJsonConsumer(AsyncJsonWebsocketConsumer):
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
