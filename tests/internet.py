"""A small local stand-in for "the internet", for tests.

Real clients (yt-dlp, the metadata providers) are pointed at this server instead
of the real sites, so tests exercise the real HTTP code paths while never
leaving 127.0.0.1.

    with LocalInternet() as net:
        net.add_file("/song.mp3", mp3_bytes, "audio/mpeg")
        net.add_route("/gone", 404, b"not here")
        download(net.url("/song.mp3"), tmp_path)
"""

from __future__ import annotations

import functools
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

# How the end of a body is signalled: the usual Content-Length header, chunked
# transfer encoding, or no length at all (the body ends when the server closes).
Framing = Literal["content-length", "chunked", "close"]


@dataclass
class Route:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    framing: Framing = "content-length"
    chunk_size: int = 64 * 1024
    chunk_delay: float = 0.0


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


class LocalInternet:
    """A threaded HTTP server on 127.0.0.1 with a free port and canned routes.

    ``tls=True`` serves HTTPS with a throwaway self-signed certificate, for clients
    that only speak HTTPS (yt-dlp's YouTube API calls); they must skip the check.
    """

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self.sent: dict[str, int] = {}  # body bytes written per path (what a client stopping early saves)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> LocalInternet:
        self._stopping.clear()
        server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        # Slow streaming handlers must not make stop() wait for them.
        server.block_on_close = False
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*_self_signed_certificate())
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalInternet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "LocalInternet is not started"
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def bytes_sent(self, path: str) -> int:
        return self.sent.get(path, 0)

    def url(self, path: str) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    # -- content ---------------------------------------------------------

    def add_route(
        self,
        path: str,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        *,
        framing: Framing = "content-length",
        chunk_size: int = 64 * 1024,
        chunk_delay: float = 0.0,
    ) -> None:
        """Serve ``body`` at ``path``; ``chunk_delay`` seconds between chunks throttles it."""
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = Route(
            status=status,
            body=body,
            headers=dict(headers or {}),
            framing=framing,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
        )

    def add_file(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        framing: Framing = "content-length",
        chunk_size: int = 64 * 1024,
        chunk_delay: float = 0.0,
    ) -> None:
        self.add_route(path, 200, body, {"Content-Type": content_type},
                       framing=framing, chunk_size=chunk_size, chunk_delay=chunk_delay)

    def add_page(self, path: str, html: str) -> None:
        self.add_route(path, 200, html, {"Content-Type": "text/html; charset=utf-8"})

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up early all the time (yt-dlp reads a few bytes to sniff a
        # link, cancelled downloads); that is not a test failure worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def _self_signed_certificate() -> tuple[str, str]:
    """(certificate, key) files for 127.0.0.1, made once per test process by openssl."""
    folder = Path(tempfile.mkdtemp(prefix="local-internet-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


def _make_handler(net: LocalInternet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def do_POST(self) -> None:
            # The body is read (and kept) so the connection can be reused; routes ignore it.
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._respond(send_body=True, body=body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

        def _respond(self, *, send_body: bool, body: bytes = b"") -> None:
            net.requests.append(SeenRequest(self.command, self.path, dict(self.headers), body))
            route = net.routes.get(self.path.split("?")[0])
            if route is None:
                route = Route(404, b"Not Found", {"Content-Type": "text/plain"})
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.framing == "content-length":
                self.send_header("Content-Length", str(len(route.body)))
            elif route.framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if send_body:
                try:
                    self._send_body(route)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up, e.g. cancelled

        def _send_body(self, route: Route) -> None:
            body = route.body
            for start in range(0, len(body), route.chunk_size):
                if net._stopping.is_set():
                    self.close_connection = True
                    return
                chunk = body[start : start + route.chunk_size]
                path = self.path.split("?", 1)[0]
                net.sent[path] = net.sent.get(path, 0) + len(chunk)
                if route.framing == "chunked":
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
                if route.chunk_delay:
                    time.sleep(route.chunk_delay)
            if route.framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")

    return Handler
