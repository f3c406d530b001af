import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


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


class Job(models.Model):
    """One run of a pipeline for one subject (a song): what the host sees in the Jobs page.

    The row is the truth about the work. A Django-Q2 task only carries the job
    id; whoever claims the row (a conditional UPDATE) does the work, so a task
    delivered twice, or a job requeued after its worker died, runs once.
    """

    class Kind(models.TextChoices):
        IMPORT = "import", "Import"
        REPROCESS = "reprocess", "Reprocess"
        # A song's stems in another key (songs/pipeline/plan.render_stages); `params`
        # says which. Several may run beside each other and beside an import.
        KEY = "key", "Key change"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    PRIORITY_LAST = 2**31 - 1

    ACTIVE = (Status.PENDING, Status.QUEUED, Status.RUNNING, Status.RETRYING)
    CLAIMABLE = (Status.PENDING, Status.QUEUED, Status.RETRYING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    # The kinds that rewrite the subject as a whole: one of them at a time per subject.
    EXCLUSIVE_KINDS = (Kind.IMPORT, Kind.REPROCESS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # What the job works on is named by the wiring (settings.JOBS_SUBJECT_MODEL, the
    # songs app's Song): this app runs the state machine and never reads the subject.
    # The field keeps the name `song` because the API and the events carry it.
    song = models.ForeignKey(settings.JOBS_SUBJECT_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.IMPORT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=32, blank=True, help_text="The stage running now, or the next one.")
    cluster = models.CharField(
        max_length=64, blank=True, help_text="The Django-Q2 cluster that runs its current stage."
    )
    start_stage = models.CharField(max_length=32, blank=True, help_text="Reprocess from this stage.")
    # What the layer above needs to run this kind (a key change: {"semitones": 2}). This
    # app stores it and compares it (one active job per subject, kind and params), never reads it.
    params = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0)
    message = models.CharField(max_length=500, blank=True, help_text="What is happening, in words.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Automatic retries made after transient errors.")
    manual_retries = models.PositiveSmallIntegerField(default=0)
    # Which waiting job a worker of the cluster takes first: the lowest, then the oldest.
    # The layer above sets it (seconds until the job's song is due to be sung); a job
    # nobody waits for (a library import) keeps PRIORITY_LAST and comes after them all.
    priority = models.IntegerField(default=2**31 - 1)
    cancel_requested = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the worker running it.")
    task_id = models.CharField(max_length=64, blank=True, help_text="The Django-Q2 task that carries it.")
    stage_seconds = models.JSONField(default=dict, blank=True, help_text="Seconds spent in each stage.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["song"],
                condition=Q(status__in=["pending", "queued", "running", "retrying"], kind__in=["import", "reprocess"]),
                name="one_active_job_per_song",
            ),
            # The same work asked twice at once (two singers choosing +2 together) is one job.
            models.UniqueConstraint(
                fields=["song", "kind", "params"],
                condition=Q(status__in=["pending", "queued", "running", "retrying"]) & ~Q(kind__in=["import", "reprocess"]),
                name="one_active_job_per_song_kind_params",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=100), name="job_progress_0_100"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.song} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class JobLog(models.Model):
    """What happened to a job, in order: stages, retries, errors, the outcome."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    event = models.CharField(max_length=32)
    stage = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.event} {self.stage}"
