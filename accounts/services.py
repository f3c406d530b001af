"""Writes of the accounts app."""

from django.db import IntegrityError, transaction

from accounts.models import User
from common.errors import Conflict


def user_sign_up(*, username: str, password: str, display_name: str = "") -> User:
    """A new singer's account (no staff, no host). The caller validated the input;
    the database settles two sign-ups racing for one username."""
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, password=password, display_name=display_name)
    except IntegrityError:
        raise Conflict("That username was taken a moment ago; pick another one.", extra={"username": username}) from None


def user_update_profile(*, user: User, display_name: str) -> User:
    user.display_name = display_name.strip()[:80]
    user.save(update_fields=["display_name"])
    return user
