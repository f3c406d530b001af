"""The API's session authentication: DRF's, with CSRF checked for guests' sessions too.

Its own module, importing no DRF view: DRF imports the authentication classes while
`rest_framework.views` is still loading.
"""

from django.conf import settings
from drf_spectacular.authentication import SessionScheme as SpectacularSessionScheme
from rest_framework import authentication, exceptions


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, with CSRF checked for every session, guests' too.

    DRF checks CSRF only when the session holds a signed-in user. A guest singer is
    anonymous, known by the session cookie alone (queue_app.access), so their writes
    went through without a token: a page on another origin of the same host could make
    them add songs or leave the room. Here an unsafe request that carries the session
    cookie is checked as well, unless it names its own credentials in a header
    (API_CREDENTIAL_HEADERS: `Authorization: Token ...`, `X-Singer-Token`), which no
    page of another origin can add without a CORS preflight this site never grants.
    A client without cookies has no session to abuse and is not asked for a token.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None and self._uses_the_session(request):
            self.enforce_csrf(request)
        return result

    @staticmethod
    def _uses_the_session(request) -> bool:
        meta = request._request.META
        if any(meta.get(header) for header in getattr(settings, "API_CREDENTIAL_HEADERS", ())):
            return False
        return settings.SESSION_COOKIE_NAME in request._request.COOKIES

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(str(exc.detail).removeprefix("CSRF Failed: ")) from None


class SessionScheme(SpectacularSessionScheme):
    """The schema's "cookieAuth" for this subclass too (drf-spectacular matches the class exactly)."""

    target_class = "common.authentication.SessionAuthentication"


class CsrfFailed(exceptions.PermissionDenied):
    """A 403 for a session write without its CSRF token, saying what to do about it."""

    def __init__(self, reason: str):
        super().__init__("This page's security token is missing or out of date: reload the page and try again.")
        self.extra = {"reason": reason}
