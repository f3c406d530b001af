"""What the HTML consumers share: reading the page's `since`, and rendering partials for push.

The HTML consumers (jobs/consumers.py, songs/consumers.py) render the same `_noun.html`
partials as the pages, with `oob` so the htmx WebSocket extension swaps each by its id.
"""

from datetime import datetime
from urllib.parse import parse_qs

from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime


def since_from(scope) -> datetime | None:
    """`?since=<ISO time>` of the socket's address (when the page was drawn), or None."""
    query = parse_qs(scope.get("query_string", b"").decode())
    try:
        return parse_datetime((query.get("since") or [""])[0])
    except ValueError:
        return None


def render_push(template: str, context: dict) -> str:
    # No request here, so no CSRF token: "NOTPROVIDED" (what Django's csrf context
    # processor gives without one) renders the forms' token field empty, silently. Pushed
    # rows only exist where htmx runs, and htmx sends the page's token as X-CSRFToken
    # (hx-headers on <body>).
    return render_to_string(template, {"csrf_token": "NOTPROVIDED", "oob": True, **context})
