from django.db import models


class WorkerHeartbeat(models.Model):
    """The last sign of life of a task cluster on one host.

    One row per (cluster, host): every worker process of that cluster on that
    host writes to it, so the freshest beat wins. Kept in the database rather
    than in Redis so that it is shared by every host whatever the broker.
    """

    cluster = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    beat_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "host"], name="unique_heartbeat_per_cluster_host"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster}@{self.host}"
