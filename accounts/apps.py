from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed  # noqa: PLC0415 - after the registry

        from accounts import throttles  # noqa: PLC0415 - after the registry

        user_login_failed.connect(throttles.count_failure, dispatch_uid="accounts.throttles.count_failure")
        user_logged_in.connect(throttles.clear_account, dispatch_uid="accounts.throttles.clear_account")
