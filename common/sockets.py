"""What a WebSocket handshake goes through before any consumer: the ASGI wiring wraps
the WebSocket router in `SameOriginWebSockets` and `WebSocketAddresses`.

Same origin, whatever ALLOWED_HOSTS says. A browser sends its cookies with a WebSocket
handshake to any site, from any page, and the server is the only one who can say no:
the handshake is not subject to CORS. So a page on another origin could open a socket
with a signed-in host's session (or a guest's) and read what it pushes. The check is the one Django's CSRF middleware makes
for HTTP: the `Origin` must be the address the request came to (its host and port equal
the `Host` header), or one of CSRF_TRUSTED_ORIGINS (a proxy that rewrites `Host`).

Why not a library: Channels' `OriginValidator` compares the Origin with a fixed list,
and `AllowedHostsOriginValidator` uses ALLOWED_HOSTS as that list, which is `*` here so
that phones reach the laptop by whatever address it has on the party's network: every
origin passed. Nothing in Channels (or Django, which checks HTTP only) compares the
Origin with the Host of the same request, which is what "same origin" means when the
site does not know its own name.

A handshake without an Origin comes from a program, not a browser (every browser sends
one), so it cannot be a page abusing a visitor's cookies: it is let through, and the
consumer decides who it is by its session or token as usual. `Origin: null` (a
sandboxed frame, a file) is refused.
"""

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

from common.middleware import has_nul

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _netloc(scheme: str, netloc: str) -> tuple[str, int | None] | None:
    """(host, port) of `netloc`, the scheme's default port when none is written."""
    host, port = split_domain_port(netloc)
    if not host:
        return None
    if port:
        try:
            return host, int(port)
        except ValueError:
            return None
    return host, DEFAULT_PORTS.get(scheme)


def _trusted(origin: str, scheme: str, netloc: str) -> bool:
    """Is `origin` one of CSRF_TRUSTED_ORIGINS ("https://*.example.com" covers subdomains)?"""
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in trusted:
            if origin == trusted.rstrip("/"):
                return True
            continue
        parts = urlsplit(trusted)
        if parts.scheme == scheme and is_same_domain(netloc, parts.netloc.lstrip("*")):
            return True
    return False


def origin_allowed(scope) -> bool:
    """May this WebSocket handshake go on? (See the module's docstring.)"""
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    origin = origin.strip().lower()
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null", or something no browser sends
    if _trusted(origin, parts.scheme, parts.netloc):
        return True
    host_header = (_header(scope, b"host") or "").strip().lower()
    if not host_header or not validate_host(split_domain_port(host_header)[0], settings.ALLOWED_HOSTS):
        return False
    # The Host header leaves out the default port of the scheme the page was loaded
    # with, which for a same-origin page is the Origin's scheme.
    came_to = _netloc(parts.scheme, host_header)
    return came_to is not None and came_to == _netloc(parts.scheme, parts.netloc)


async def refuse_handshake(scope, receive, send, *, status: int, message: str) -> None:
    """Refuse a WebSocket handshake before accepting it.

    With the ASGI "websocket.http.response" extension (uvicorn has it) the client gets
    `status` and the error shape; otherwise closing before accept is a 403.
    """
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"message": message, "extra": {}}).encode()
        await send({
            "type": "websocket.http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})


class SameOriginWebSockets:
    """ASGI middleware: WebSocket handshakes from another origin get a 403 (see above)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            await refuse_handshake(
                scope, receive, send, status=403,
                message="This socket only accepts pages of this site (the Origin is another site's).",
            )
            return
        await self.application(scope, receive, send)


class WebSocketAddresses:
    """ASGI middleware: a handshake whose path or query string holds a NUL is a 400, one
    to an address none of `routes` serves a 404 (rather than Channels' router crashing
    with "No route found", a 500), both before the session is read."""

    def __init__(self, application, routes):
        self.application = application
        self.routes = routes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            if has_nul(path=scope.get("path", ""), query_string=scope.get("query_string", b"")):
                await refuse_handshake(scope, receive, send, status=400, message="The address holds invalid characters.")
                return
            path, root = scope.get("path", ""), scope.get("root_path", "")
            path = (path[len(root):] if root and path.startswith(root) else path).lstrip("/")
            if not any(route.pattern.match(path) for route in self.routes):
                await refuse_handshake(scope, receive, send, status=404, message="There is no socket at this address.")
                return
        await self.application(scope, receive, send)
