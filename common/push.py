"""What the HTML consumers share: reading the page's `since`, and rendering partials for push.

The HTML consumers (jobs/consumers.py, songs/consumers.py) render the same `_noun.html`
partials as the pages, with `oob` so the htmx WebSocket extension swaps each by its id.
"""

from datetime import datetime
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime


def since_from(scope) -> datetime | None:
    """`?since=<ISO time>` of the socket's address (when the page was drawn), or None."""
    query = parse_qs(scope.get("query_string", b"").decode())
    try:
        return parse_datetime((query.get("since") or [""])[0])
    except ValueError:
        return None


def csrf_token_from(scope) -> str:
    """A CSRF token for the forms of pushed rows: the page's CSRF cookie, masked as Django does.

    A wrong token in a form field would refuse the POST even though htmx also sends the
    page's token as a header (Django reads the field first). Without a usable cookie,
    "NOTPROVIDED" (what Django's csrf context processor gives then) leaves the field out,
    and the header does the work.
    """
    secret = (scope.get("cookies") or {}).get(settings.CSRF_COOKIE_NAME, "")
    if len(secret) != 32 or not (secret.isascii() and secret.isalnum()):
        return "NOTPROVIDED"
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return get_token(request)


def render_push(template: str, context: dict, *, csrf_token: str) -> str:
    return render_to_string(template, {"csrf_token": csrf_token, "oob": True, **context})
