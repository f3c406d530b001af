from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "queue_app"
    verbose_name = "Party rooms"

    def ready(self):
        # queue_app/receivers.py imports models, which only exist once the registry is ready.
        from queue_app import receivers  # noqa: PLC0415 - must wait for ready()

        receivers.connect()
