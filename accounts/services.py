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


def onboarding_open() -> bool:
    """The first-run page is there until the site has a staff account."""
    return not User.objects.filter(is_staff=True, is_active=True).exists()


def user_create_first_host(*, username: str, password: str, display_name: str = "") -> User:
    """The first host of a new site: staff (the library, every room, the admin) and host.
    Refused once a staff account exists, so the first-run page creates exactly one."""
    with transaction.atomic():
        if not onboarding_open():
            raise Conflict("This site already has its host; sign in instead.")
        try:
            user = User.objects.create_superuser(
                username=username, password=password, display_name=display_name, email=""
            )
        except IntegrityError:
            raise Conflict("That username is taken; pick another one.", extra={"username": username}) from None
        user.is_host = True
        user.save(update_fields=["is_host"])
    return user

