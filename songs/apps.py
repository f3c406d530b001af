from django.apps import AppConfig


class SongsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "songs"

    def ready(self):
        # songs/receivers.py imports models, which only exist once the registry is ready.
        from songs import receivers  # noqa: PLC0415 - must wait for ready()

        receivers.connect()
