from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Encore's user, custom from the first migration so it can grow (roles, tokens).

    Roles: staff (`is_staff`: the whole site and the admin), host (`is_host`: may open
    party rooms and runs the ones they own), singer (anyone signed in), and guests, who
    have no account at all (a `queue_app.Singer` without a user).
    """

    display_name = models.CharField(max_length=80, blank=True)
    is_host = models.BooleanField(
        "host", default=False, help_text="May create party rooms and run them (skip, reorder, settings)."
    )

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def can_host(self) -> bool:
        return self.is_active and (self.is_host or self.is_staff)
