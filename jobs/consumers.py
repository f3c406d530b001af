"""WebSocket consumers of the jobs app: thin, they only read and forward."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.events import JOBS_GROUP
from jobs.selectors import cluster_health


def _can_watch_jobs(user) -> bool:
    return user.is_authenticated and user.is_staff


class JobsJsonConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/jobs/`: the state of the workers and jobs, then every change, as JSON."""

    async def connect(self):
        if not _can_watch_jobs(self.scope["user"]):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(JOBS_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "state", "workers": await self._workers()})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(JOBS_GROUP, self.channel_name)

    @database_sync_to_async
    def _workers(self) -> list[dict]:
        return [
            {"cluster": health.cluster, "alive": health.alive, "age_seconds": health.age_seconds}
            for health in cluster_health()
        ]

    async def worker_heartbeat(self, event):
        await self.send_json(event)
