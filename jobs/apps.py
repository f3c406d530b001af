from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        from django_q.signals import post_spawn

        from jobs import worker

        # Every Django-Q2 worker process starts beating as soon as it exists,
        # so /healthz sees a cluster alive before it has run a single task.
        post_spawn.connect(worker.on_worker_spawn, dispatch_uid="jobs.worker.heartbeat")
