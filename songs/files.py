"""Serving a song's files over HTTP, with byte ranges (RFC 9110 §14).

Browsers seek in an <audio> element with ``Range: bytes=N-``; Safari will not
play a file at all unless the server answers ranges with 206. These helpers
know nothing about songs or permissions: a path and a request in, a response
out. The view in ``songs.media_views`` decides *which* path may be served.

Choices, where the RFC leaves one:
- A Range header that does not parse (or asks for another unit) is ignored:
  the whole file with 200, as RFC 9110 §14.2 allows.
- Several ranges (``bytes=0-1,5-9``) are ignored too, whole file with 200:
  players never ask for them and a multipart/byteranges body is not worth its
  code (a server MAY ignore Range, RFC 9110 §14.2).
- ``If-Range`` is honoured: a range is served only when the validator the
  client holds still matches, otherwise the whole (changed) file.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from pathlib import Path
from typing import BinaryIO

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe

CHUNK_SIZE = 64 * 1024

# Python's mimetypes table differs between systems (and lacks some of these).
CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".weba": "audio/webm",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".lrc": "text/plain; charset=utf-8",
    ".json": "application/json",
}


class Unsatisfiable(Exception):
    """A well-formed range that starts at or beyond the end of the file: 416."""


def content_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) byte span a ``Range`` header asks of a file of `size` bytes.

    None means "serve the whole file": no header, a malformed one, another
    unit, or several ranges. Raises `Unsatisfiable` for a single well-formed
    range that no byte of the file can satisfy.
    """
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [part.strip() for part in spec.split(",")]
    if len(specs) != 1:
        return None
    first, dash, last = specs[0].partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last):
        return None
    if (first and not _is_digits(first)) or (last and not _is_digits(last)):
        return None
    try:
        if not first:  # "-n": the last n bytes
            suffix = int(last)
            if suffix == 0 or size == 0:
                raise Unsatisfiable
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:  # more digits than int() accepts
        return None
    if last and end < start:
        return None  # invalid, not unsatisfiable (RFC 9110 §14.1.1)
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


def _is_digits(text: str) -> bool:
    # str.isdigit() accepts "²" and other non-ASCII digits.
    return text.isascii() and text.isdigit()


def etag_for(stat: os.stat_result) -> str:
    # A file is replaced by renaming a new one into place, so a change shows in
    # mtime (nanoseconds) or size; strong, because the bytes of a name only
    # change with a rename.
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def file_response(request: HttpRequest, path: Path, *, content_type: str | None = None) -> HttpResponseBase:
    """Answer GET or HEAD for the file at `path`: 200, 206, 304, 412 or 416.

    The file is streamed in chunks, never read whole into memory (under ASGI
    through an async iterator: Django would read a sync one into a list).
    Raises OSError when the file cannot be opened; the caller decides what that means.
    """
    file = path.open("rb")
    try:
        # The open file's own facts: a rename into place meanwhile does not mix two versions.
        stat = os.fstat(file.fileno())
        size = stat.st_size
        etag = etag_for(stat)
        last_modified = int(stat.st_mtime)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": http_date(last_modified),
            # Readable only when signed in: no shared cache may keep it.
            "Cache-Control": "private, no-cache",
        }

        conditional = get_conditional_response(request, etag=etag, last_modified=last_modified)
        if conditional is not None:
            file.close()
            for name, value in headers.items():
                conditional.headers[name] = value
            return conditional

        span = None
        range_header = request.headers.get("Range")
        if range_header and _if_range_passes(request.headers.get("If-Range"), etag, last_modified):
            try:
                span = parse_range(range_header, size)
            except Unsatisfiable:
                file.close()
                response = HttpResponse(
                    f"The range {range_header[:100]} is outside this file of {size} bytes.\n",
                    status=416, content_type="text/plain; charset=utf-8",
                )
                response.headers["Content-Range"] = f"bytes */{size}"
                response.headers["Accept-Ranges"] = "bytes"
                return response

        start, end = span if span is not None else (0, size - 1)
        length = end - start + 1 if size else 0
        headers["Content-Type"] = content_type or content_type_for(path.name)
        headers["Content-Length"] = str(length)
        status = 200
        if span is not None:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"

        if request.method == "HEAD":
            file.close()
            return HttpResponse(status=status, headers=headers)

        file.seek(start)
        chunks = AsyncFileSpan(file, length) if isinstance(request, ASGIRequest) else FileSpan(file, length)
        # Django closes the span (and so the file) when the response is closed,
        # also when the client goes away half-way.
        return StreamingHttpResponse(chunks, status=status, headers=headers)
    except BaseException:
        file.close()
        raise


def _if_range_passes(if_range: str | None, etag: str, last_modified: int) -> bool:
    """RFC 9110 §13.1.5: serve the range only if the client's copy is still current."""
    if not if_range:
        return True
    if_range = if_range.strip()
    if if_range.startswith('"'):
        return if_range == etag  # strong comparison; a weak tag never matches
    if if_range.startswith("W/"):
        return False
    return parse_http_date_safe(if_range) == last_modified


class _Span:
    """`length` bytes of an open file from its current position, then closed."""

    def __init__(self, file: BinaryIO, length: int):
        self._file = file
        self._remaining = length

    def _read(self) -> bytes:
        if self._remaining <= 0:
            return b""
        data = self._file.read(min(CHUNK_SIZE, self._remaining))
        # A file cut short meanwhile ends the body early rather than looping.
        self._remaining = self._remaining - len(data) if data else 0
        return data

    def close(self) -> None:
        self._file.close()


class FileSpan(_Span):
    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        data = self._read()
        if not data:
            self.close()
            raise StopIteration
        return data


class AsyncFileSpan(_Span):
    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        data = await asyncio.to_thread(self._read)
        if not data:
            self.close()
            raise StopAsyncIteration
        return data
