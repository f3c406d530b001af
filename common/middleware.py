"""Django middleware the wiring puts in MIDDLEWARE."""

from urllib.parse import unquote_to_bytes

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import BadRequest
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin

from common.answers import error_answer
from common.throttle import Throttled, with_retry_after


def has_nul(*, path: str = "", query_string: str | bytes = b"") -> bool:
    """Does this (decoded) path or (raw) query string hold a NUL byte, written or %00?

    PostgreSQL refuses NUL in text, so a NUL that reaches a query is a 500 there and a
    miss on SQLite; no address, code or search of the site can hold one. (Form fields
    and the API's fields refuse it themselves: Django's and DRF's CharField.)
    """
    if isinstance(query_string, str):
        query_string = query_string.encode("latin1", "replace")
    return "\x00" in path or b"\x00" in unquote_to_bytes(query_string)


def _check(request) -> None:
    if has_nul(path=request.path, query_string=request.META.get("QUERY_STRING", "")):
        raise BadRequest("The address holds invalid characters.")


def checking_first(check):
    """A middleware (sync or async, as the chain is) that runs `check(request)` before
    anything else; `check` refuses by raising (BadRequest: a 400 in the error shape)."""

    @sync_and_async_middleware
    def factory(get_response):
        if iscoroutinefunction(get_response):

            async def middleware(request):
                check(request)
                return await get_response(request)

        else:

            def middleware(request):
                check(request)
                return get_response(request)

        return middleware

    return factory


# A NUL byte in the path or the query string is a 400 (the error pages say it), for every
# view, before any of them passes it to the database.
reject_nul_bytes = checking_first(_check)


def _query_once(request) -> None:
    if request.path.startswith("/api/"):
        for name, values in request.GET.lists():
            if len(values) > 1:
                raise BadRequest(f"The query parameter {name} is given more than once.")


# Under /api/, a query parameter given twice is a 400 (the error shape, through
# handler400): no parameter of the API is a list, and a view reads one value (DRF's, the
# last), so `?ordering=title&ordering=x` was quietly one of them.
api_query_once = checking_first(_query_once)


class ThrottledAnswers(MiddlewareMixin):
    """A Throttled that a page's view does not answer itself (where the user acted) is a
    429 with its message and Retry-After. (The API's handler answers its own.)"""

    def process_exception(self, request, exception):
        if isinstance(exception, Throttled):
            answer = error_answer(request, status=429, message=exception.message, template="429.html",
                                  extra=exception.extra)
            return with_retry_after(answer, exception)
        return None


class SyncChain:
    """The last of MIDDLEWARE, and sync only: under ASGI, Django then runs every middleware
    above it in one worker thread, with one trip back to the event loop for the view.

    Django's middleware are both sync and async capable; with an async view handler below
    them they run in async mode, and each of their process_* methods is one more
    sync_to_async: 19 trips between the event loop and a thread for one singer's search.
    Under a party's load the loop is busy sending every change to every socket, so each
    trip waits its turn (measured in bench/README.md, party_load.py).
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
