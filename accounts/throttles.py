"""Sign-in throttles (common/throttle.py): failed sign-ins per account and per client
address, shared by every web process, so that 300 guesses are not 300 chances.

Failures are counted from Django's `user_login_failed` signal, so the admin's sign-in
page counts too; the authentication backend refuses an account or address over its
limit (even with the right password: that is the point) until the window ends, and the
sign-in page says when to try again. A successful sign-in clears its account's count.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from common.throttle import Throttle, Throttled, client_address

PER_ACCOUNT = Throttle(
    "signin-account", setting="THROTTLE_SIGNIN_PER_ACCOUNT", message="Too many failed sign-ins for this account."
)
PER_ADDRESS = Throttle(
    "signin-address", setting="THROTTLE_SIGNIN_PER_ADDRESS", message="Too many failed sign-ins from this device."
)


def _account(username) -> str:
    return str(username or "").strip().lower()


def signin_check(*, username: str, client: str) -> None:
    """Throttled if this account or this address failed too often lately."""
    PER_ACCOUNT.check(_account(username))
    PER_ADDRESS.check(client)


def count_failure(sender, credentials, request=None, **kwargs) -> None:
    """`user_login_failed`: one more failure for the account and the address."""
    PER_ACCOUNT.hit(_account(credentials.get("username")))
    if request is not None:
        PER_ADDRESS.hit(client_address(request))


def clear_account(sender, request, user, **kwargs) -> None:
    """`user_logged_in`: the account's failures are forgotten (the address's are not)."""
    PER_ACCOUNT.reset(_account(user.get_username()))


class ThrottledModelBackend(ModelBackend):
    """Django's backend, refusing an account or address that failed too often lately."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            try:
                signin_check(username=username or "", client=client_address(request))
            except Throttled:
                raise PermissionDenied from None  # stops every backend; counted as a failure
        return super().authenticate(request, username=username, password=password, **kwargs)
