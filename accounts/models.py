from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Encore's user, custom from the first migration so it can grow (roles, tokens)."""

    display_name = models.CharField(max_length=80, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username
