"""Request bodies capped before they are read: an ASGI middleware around the HTTP app.

Django under ASGI reads a request's whole body (spooled to a temporary file) before any
middleware or view runs, so no view can refuse a body by its size in time: an anonymous
1 GB POST to the join API was on the disk before the answer. Here the limit of the
address (small for JSON and forms, the upload limit for the few views that take files)
is applied first:

- a `Content-Length` over the limit is answered 413 at once, without reading a byte;
- a body without one (chunked, or streamed) is read here, as it arrives, and answered
  413 the moment it passes the limit. One within the limit is handed to Django with its
  `Content-Length`, which Django and DRF need: without it they read a chunked body as
  empty ("No file was submitted").

A 413 is the API's error shape (`{"message", "extra"}`), or for an htmx request the
small fragment the pages show where the user acted.
"""

import json
import tempfile
from collections.abc import Callable

from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils.html import format_html

CHUNK = 64 * 1024
# Reads: no view of the site takes a body with them, so the address is not looked up.
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def limit_for_path(path: str) -> int:
    """The body limit of an address: BODY_LIMITS_BY_VIEW for the view it resolves to,
    REQUEST_BODY_MAX_BYTES otherwise (unknown addresses too)."""
    by_view = getattr(settings, "BODY_LIMITS_BY_VIEW", {})
    if by_view:
        try:
            view_name = resolve(path).view_name
        except Resolver404:
            view_name = ""
        if view_name in by_view:
            return by_view[view_name]
    return settings.REQUEST_BODY_MAX_BYTES


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / 1024 / 1024:.0f} MB"
    return f"{max(1, round(limit / 1024))} KB"


def _headers(scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


async def _answer(scope, send, *, status: int, message: str, extra: dict) -> None:
    if _headers(scope).get(b"hx-request") == b"true":
        body = format_html('<p class="error" role="alert">{}</p>', message).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"message": message, "extra": extra}).encode()
        content_type = b"application/json"
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})


async def _too_large(scope, send, limit: int) -> None:
    await _answer(
        scope, send, status=413, message=f"The request is too large: the limit here is {_size(limit)}.",
        extra={"limit_bytes": limit},
    )


class BodyLimit:
    """ASGI middleware: the HTTP app sees no body larger than its address's limit."""

    def __init__(self, application, *, limit_for: Callable[[str], int] = limit_for_path):
        self.application = application
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.application(scope, receive, send)
            return
        limit = settings.REQUEST_BODY_MAX_BYTES
        if scope.get("method") not in SAFE_METHODS:
            path, root = scope.get("path", ""), scope.get("root_path", "")
            limit = self.limit_for(path[len(root):] if root and path.startswith(root) else path)
        declared = _headers(scope).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(scope, send, status=400, message="The Content-Length header is not a number.", extra={})
                return
            if length > limit:
                await _too_large(scope, send, limit)
                return
            await self.application(scope, _counted(receive, limit), send)
            return
        await self._without_length(scope, receive, send, limit)

    async def _without_length(self, scope, receive, send, limit: int) -> None:
        """Read the body here, up to the limit, and hand it on with its length."""
        spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
        try:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away: nobody to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await _too_large(scope, send, limit)
                    return
                spool.write(chunk)
                if not message.get("more_body", False):
                    break
            if size == 0:
                spool.close()
                await self.application(scope, _replay(None, 0, receive), send)
                return
            spool.seek(0)
            headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() != b"transfer-encoding"]
            headers.append((b"content-length", str(size).encode()))
            await self.application({**scope, "headers": headers}, _replay(spool, size, receive), send)
        finally:
            spool.close()


def _counted(receive, limit: int):
    """`receive`, stopping a body that runs past its declared (allowed) length."""
    received = 0

    async def counted_receive():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                return {"type": "http.disconnect"}
        return message

    return counted_receive


def _replay(spool, size: int, receive):
    """The body read already (in chunks), then the connection's own messages (disconnect)."""
    sent = 0
    done = False

    async def replay_receive():
        nonlocal sent, done
        if done:
            return await receive()
        chunk = spool.read(CHUNK) if spool is not None else b""
        sent += len(chunk)
        done = sent >= size
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay_receive
