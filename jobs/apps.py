from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        # Both import models, which only exist once the registry is ready.
        from django_q.signals import post_execute_in_worker, post_spawn  # noqa: PLC0415 - must wait for ready()

        from jobs import worker  # noqa: PLC0415 - must wait for ready()

        # Every Django-Q2 worker process starts beating as soon as it exists,
        # so /healthz sees a cluster alive before it has run a single task.
        post_spawn.connect(worker.on_worker_spawn, dispatch_uid="jobs.worker.heartbeat")
        post_execute_in_worker.connect(worker.after_task, dispatch_uid="jobs.worker.flush_events")
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="jobs.schedules")


def _ensure_schedules(sender, **kwargs):
    from jobs.services import schedules_ensure  # noqa: PLC0415 - connected at ready(); models load first

    # The stuck-job sweep runs every minute in the default cluster.
    schedules_ensure()
