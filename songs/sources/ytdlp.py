"""yt-dlp adapter: recognise links, download the original audio, search YouTube.

yt-dlp is used as a library (``yt_dlp.YoutubeDL``), never through its CLI. Its
console output goes to Python logging. Its errors are turned into the adapter
errors of ``songs.errors``; that classification decides whether the job runner
retries, so it is built from exception chains observed against a real local
server (see tests/test_ytdlp_adapter.py), not from guesses:

- an HTTP error while reading the page: ``DownloadError`` whose ``exc_info``
  holds ``yt_dlp.networking.exceptions.HTTPError`` (``.status``);
- connection refused / DNS failure: ``DownloadError`` -> ``TransportError``
  -> urllib3 ``NewConnectionError`` / ``NameResolutionError`` ->
  ``ConnectionRefusedError`` / ``socket.gaierror``;
- a page with nothing to download: ``DownloadError`` -> ``UnsupportedError``;
- errors while fetching the media itself after retries (5xx, read timeouts,
  truncated bodies) arrive as a bare ``DownloadError`` with no cause at all,
  so the message text is the only evidence and is matched as a fallback.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit, urlunsplit

import imageio_ffmpeg
import yt_dlp
from django.conf import settings
from yt_dlp.networking.exceptions import HTTPError as YtHTTPError
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.utils import DownloadCancelled, UnsupportedError, YoutubeDLError

from songs.audio.ffmpeg import bitrate_of, format_seconds
from songs.errors import AdapterError, Cancelled, PermanentError, TransientError

log = logging.getLogger(__name__)

# percent is None while the size of the download is unknown (no Content-Length).
ProgressCallback = Callable[[float | None, str], None]
CancelCheck = Callable[[], bool]

# is_cancelled may hit the database; yt-dlp calls the hook for every block read.
CANCEL_CHECK_INTERVAL = 0.25
MAX_SEARCH_RESULTS = 50


_YOUTUBE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_ID_PATH_PREFIXES = ("shorts", "embed", "live", "v", "e")
_BARE_HOST_RE = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?(/|$)")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    title: str
    uploader: str | None
    artist: str | None
    track: str | None
    album: str | None
    duration: float | None  # None for a plain file link; the caller measures it
    source_id: str
    extractor: str
    webpage_url: str


@dataclass(frozen=True)
class SearchResult:
    id: str
    title: str
    duration: float | None
    channel: str | None
    url: str
    thumbnail: str | None


# -- links ------------------------------------------------------------------


def parse_youtube_id(url: str) -> str | None:
    """The 11-character video id of any common YouTube link, else None."""
    parts = _split(url.strip())
    if parts is None or parts.hostname is None:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    segments = [s for s in parts.path.split("/") if s]
    candidate = None
    if host == "youtu.be" and segments:
        candidate = segments[0]
    elif host in _YOUTUBE_HOSTS:
        if segments[:1] == ["watch"]:
            candidate = parse_qs(parts.query).get("v", [None])[0]
        elif len(segments) >= 2 and segments[0] in _ID_PATH_PREFIXES:
            candidate = segments[1]
    if candidate and _YOUTUBE_ID_RE.match(candidate):
        return candidate
    return None


def normalise_url(url: str) -> str:
    """A clean http(s) URL; YouTube links become ``https://www.youtube.com/watch?v=ID``.

    The canonical YouTube form drops playlist and timestamp parameters, so the
    same video pasted twice is recognised as the same song. A user name and password
    (``https://user:pass@host/x.mp3``) are dropped: the link is stored and shown to the
    site's accounts, and the same file is the same song whoever's password fetched it.
    """
    url = url.strip()
    if video_id := parse_youtube_id(url):
        return f"https://www.youtube.com/watch?v={video_id}"
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PermanentError("invalid_url", f"{_shorten(url)!r} is not a web link (http:// or https://).")
    if any(c.isspace() for c in url):
        raise PermanentError("invalid_url", f"{_shorten(url)!r} contains spaces; paste the link exactly.")
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, ""))


def _split(url: str) -> SplitResult | None:
    if "://" not in url and _BARE_HOST_RE.match(url):
        url = "https://" + url  # people paste "youtu.be/..." without the scheme
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts


# -- download ---------------------------------------------------------------


class _StopRequested(DownloadCancelled):
    """Raised inside yt-dlp; as a DownloadCancelled it passes through yt-dlp untouched."""

    msg = "Cancelled by Encore"


class _TooLong(DownloadCancelled):
    # yt-dlp re-raises this as a fresh ``type(err)()``, so it cannot carry the duration.
    msg = "Longer than the limit"


class _DurationFilter:
    """yt-dlp ``match_filter``: stops before the download when the video is too long."""

    def __init__(self, max_duration: float | None) -> None:
        self.max_duration = max_duration
        self.rejected: float | None = None

    def __call__(self, info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        duration = _float_or_none(info.get("duration"))
        if self.max_duration is not None and duration is not None and duration > self.max_duration:
            self.rejected = duration
            raise _TooLong()
        return None


def download(
    url: str,
    dest_dir: str | os.PathLike[str],
    *,
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    max_duration: float | None = None,
    timeout: float = 30,
    filename: str = "original",
) -> DownloadResult:
    """Download the best audio of ``url`` into ``dest_dir/<filename>.<ext>``.

    Only the first item of a playlist is taken. Raises ``PermanentError``,
    ``TransientError`` or ``Cancelled``; never leaves partial files behind.
    """
    url = normalise_url(url)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    prefix = f".download-{secrets.token_hex(6)}"
    if is_cancelled and is_cancelled():
        raise Cancelled("Download cancelled.")

    duration_filter = _DurationFilter(max_duration)
    opts = _base_options(timeout) | {
        "format": "bestaudio/best",
        "outtmpl": str(dest / f"{prefix}.%(ext)s"),
        "noplaylist": True,
        "playlist_items": "1",
        "retries": 3,
        "fragment_retries": 3,
        "continuedl": False,
        "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(),
        "progress_hooks": [_progress_hook(on_progress, is_cancelled, duration_filter)],
        "match_filter": duration_filter,
    }
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=True)
        info = _first_entry(info)
        downloaded = _downloaded_file(info, dest, prefix)
        final = dest / f"{filename}{downloaded.suffix}"
        os.replace(downloaded, final)
    except _StopRequested as exc:
        raise Cancelled("Download cancelled.") from exc
    except _TooLong as exc:
        assert max_duration is not None and duration_filter.rejected is not None
        raise PermanentError("too_long", _too_long_message(duration_filter.rejected, max_duration)) from exc
    except YoutubeDLError as exc:
        raise classify_error(exc, url=url) from exc
    finally:
        _remove_prefixed(dest, prefix)

    if on_progress:
        on_progress(100.0, "Downloaded")
    return DownloadResult(
        path=final,
        title=_title(info) or filename,
        uploader=info.get("uploader") or info.get("channel"),
        artist=info.get("artist") or info.get("creator"),
        track=info.get("track"),
        album=info.get("album"),
        duration=_float_or_none(info.get("duration")),
        source_id=str(info.get("id") or ""),
        extractor=str(info.get("extractor_key") or info.get("extractor") or ""),
        webpage_url=info.get("webpage_url") or url,
    )


def _base_options(timeout: float) -> dict[str, Any]:
    """What every call shares, then the host's YTDLP_OPTIONS; each call's own options go
    on top, so the host's cannot move the file, its format or the length limit."""
    return {
        "logger": _YtdlpLogger(),
        "quiet": True,
        "noprogress": True,
        # Warnings still reach the logger (e.g. "Retrying (1/3)"), which is where they belong.
        "no_warnings": False,
        "socket_timeout": timeout,
        "cachedir": False,
    } | settings.YTDLP_OPTIONS


# A link to a plain file says no duration before its download: once this much of it is
# here, ffmpeg reads its bitrate, and the length of the whole is estimated from its size.
SIZE_CHECK_BYTES = 256 * 1024


def _progress_hook(
    on_progress: ProgressCallback | None, is_cancelled: CancelCheck | None, too_long: _DurationFilter | None = None
) -> Callable[[dict[str, Any]], None]:
    last_check = 0.0
    bitrate: float | None = None

    def check_length(d: dict[str, Any]) -> None:
        """Stop a file that will be longer than the limit early, not after downloading it whole."""
        nonlocal bitrate
        done = d.get("downloaded_bytes") or 0
        if too_long is None or too_long.max_duration is None or done < SIZE_CHECK_BYTES:
            return
        if bitrate is None:
            partial = d.get("tmpfilename") or d.get("filename")
            bitrate = (bitrate_of(partial) if partial and os.path.isfile(partial) else None) or 0.0
        if bitrate <= 0:
            return
        size = d.get("total_bytes") or done  # unknown size (chunked): what has come so far
        estimate = size * 8 / bitrate
        if estimate > too_long.max_duration * 1.05:  # a little slack: a bitrate is an average
            too_long.rejected = estimate
            raise _TooLong()

    def hook(d: dict[str, Any]) -> None:
        nonlocal last_check
        if d.get("status") != "downloading":
            return
        check_length(d)
        now = time.monotonic()
        if is_cancelled and now - last_check >= CANCEL_CHECK_INTERVAL:
            last_check = now
            if is_cancelled():
                raise _StopRequested()
        if on_progress:
            on_progress(*_describe_progress(d))

    return hook


def _describe_progress(d: dict[str, Any]) -> tuple[float | None, str]:
    done = d.get("downloaded_bytes") or 0
    total = d.get("total_bytes") or d.get("total_bytes_estimate")
    if total:
        return min(99.9, 100.0 * done / total), f"Downloading: {_mb(done)} of {_mb(total)}"
    index, count = d.get("fragment_index"), d.get("fragment_count")
    if index and count:
        return min(99.9, 100.0 * index / count), f"Downloading: part {index} of {count}"
    return None, f"Downloading: {_mb(done)}"


def _first_entry(info: dict[str, Any] | None) -> dict[str, Any]:
    while info is not None and info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if e]
        info = entries[0] if entries else None
    if info is None:
        raise PermanentError("unsupported_url", "There is nothing to download at this link.")
    return info


def _title(info: dict[str, Any]) -> str | None:
    title = info.get("title") or info.get("id")
    if title and info.get("extractor_key") == "HTML5MediaEmbed":
        # yt-dlp numbers every <audio> of a page, even the only one: "Page title (1)".
        title = re.sub(r" \(\d+\)$", "", title)
    return title


def _downloaded_file(info: dict[str, Any], dest: Path, prefix: str) -> Path:
    for item in info.get("requested_downloads") or []:
        if item.get("filepath") and Path(item["filepath"]).is_file():
            return Path(item["filepath"])
    # Some paths through yt-dlp do not record requested_downloads; our prefix is unique.
    found = [p for p in dest.glob(f"{prefix}.*") if not p.name.endswith((".part", ".ytdl"))]
    if len(found) != 1:
        raise PermanentError("download_failed", "The download finished but no audio file was written.")
    return found[0]


def remove_partial_downloads(dest_dir: Path) -> int:
    """Remove what an interrupted download left (a worker killed mid-way cannot).

    Only for a folder the caller owns exclusively: another download running
    into it at the same time would lose its files.
    """
    removed = 0
    for leftover in Path(dest_dir).glob(".download-*"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def _remove_prefixed(dest: Path, prefix: str) -> None:
    # Catches the .part, .ytdl and .part-FragN files of an interrupted download.
    for leftover in dest.glob(f"{prefix}.*"):
        leftover.unlink(missing_ok=True)


# -- search -----------------------------------------------------------------


def search(query: str, *, limit: int = 5, timeout: float = 10) -> list[SearchResult]:
    """Search YouTube; fast because entries are not resolved (``extract_flat``)."""
    query = " ".join(query.split())
    if not query:
        return []
    limit = max(1, min(limit, MAX_SEARCH_RESULTS))
    opts = _base_options(timeout) | {
        "extract_flat": "in_playlist",
        "skip_download": True,
        # Someone is waiting on a phone: fail fast rather than retry three times.
        "extractor_retries": 1,
    }
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(f"ytsearch{limit}:{query}", download=False)
    except YoutubeDLError as exc:
        error = classify_error(exc, url="https://www.youtube.com")
        if error.code == "network":
            raise TransientError(
                "youtube_unreachable",
                "YouTube could not be reached. Check the internet connection and try again.",
            ) from exc
        raise error from exc
    return [r for r in map(search_result_from_entry, (info or {}).get("entries") or []) if r]


def video_info(video_id: str, *, timeout: float = 10) -> SearchResult:
    """Title, channel and length of one YouTube video, without downloading it (a guest's
    pasted link). The URL is built here from the id: nothing else is fetched."""
    if not _YOUTUBE_ID_RE.match(video_id or ""):
        raise PermanentError("not_youtube", "That is not a YouTube video id.")
    url = f"https://www.youtube.com/watch?v={video_id}"
    opts = _base_options(timeout) | {"skip_download": True, "noplaylist": True,
                                                              "extractor_retries": 1}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False, process=False)
    except YoutubeDLError as exc:
        error = classify_error(exc, url=url)
        if error.code == "network":
            raise TransientError(
                "youtube_unreachable", "YouTube could not be reached. Check the internet connection and try again."
            ) from exc
        raise error from exc
    result = search_result_from_entry({**(info or {}), "id": video_id})
    if result is None:
        raise PermanentError("unavailable", "YouTube has no such video.")
    return result


def search_result_from_entry(entry: dict[str, Any] | None) -> SearchResult | None:
    """Map one flat ``ytsearch`` entry; channels and playlists in the results are skipped."""
    if not entry or not _YOUTUBE_ID_RE.match(str(entry.get("id") or "")):
        return None
    thumbnails = entry.get("thumbnails") or []
    thumbnail = entry.get("thumbnail") or (thumbnails[-1].get("url") if thumbnails else None)
    return SearchResult(
        id=entry["id"],
        title=entry.get("title") or entry["id"],
        duration=_float_or_none(entry.get("duration")),
        channel=entry.get("channel") or entry.get("uploader"),
        url=f"https://www.youtube.com/watch?v={entry['id']}",
        thumbnail=thumbnail,
    )


# -- errors -----------------------------------------------------------------

_UNAVAILABLE_PHRASES = (
    "video unavailable", "private video", "this video is private", "has been removed",
    "members-only", "confirm your age", "not available in your country", "is not available",
    "live event will begin", "premieres in", "account associated with this video has been terminated",
)


def classify_error(exc: BaseException, *, url: str) -> AdapterError:
    """Turn a yt-dlp error into ``TransientError`` (worth retrying) or ``PermanentError``."""
    chain = list(_exception_chain(exc))
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    host = _failing_host(text) or (urlsplit(url).netloc or url)

    if any(isinstance(e, UnsupportedError) for e in chain) or "unsupported url" in lowered:
        return PermanentError(
            "unsupported_url",
            "No song was found at this link. Use a YouTube link or a direct link to an audio file.",
        )
    status = _http_status(chain, text)
    if status is not None:
        return _http_error(status, host)
    if "confirm you" in lowered and "not a bot" in lowered:
        return TransientError("blocked", "YouTube is refusing downloads from this server for now. Will try again later.")
    if any(p in lowered for p in _UNAVAILABLE_PHRASES):
        return PermanentError("unavailable", f"This video cannot be downloaded: {_clean(_youtube_reason(chain) or text)}")
    if "no connection adapters were found" in lowered or any(type(e).__name__ == "InvalidSchema" for e in chain):
        # A redirect to file://, ftp://... : never followed, and no retry will change it.
        return PermanentError("bad_redirect", "The link leads to something that is not a web address; "
                                              "only http:// and https:// links can be downloaded.")
    if any(type(e).__name__ in ("RemoteDisconnected", "BadStatusLine") for e in chain) or \
            "remote end closed connection without response" in lowered:
        # It hung up without a word of HTTP: a database, a mail server, not a web server.
        return PermanentError("not_http", f"The server at {host} is not a web server; check the link.")
    if network := _network_problem(chain, lowered, host):
        return TransientError("network", network)
    log.warning("Unclassified yt-dlp error for %s: %s", url, text)
    return PermanentError("download_failed", f"The download failed: {_clean(str(exc))}")


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and everything behind it, via yt-dlp's ``exc_info``/``cause`` and Python's own links."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        exc_info = getattr(e, "exc_info", None)
        todo += [
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
            _as_exception(getattr(e, "cause", None)),
            _as_exception(getattr(e, "reason", None)),  # urllib's URLError(reason=OSError)
            e.__cause__,
            e.__context__,
        ]


def _as_exception(value: object) -> BaseException | None:
    return value if isinstance(value, BaseException) else None


def _http_status(chain: Iterable[BaseException], text: str) -> int | None:
    for e in chain:
        if isinstance(e, YtHTTPError):
            return e.status
        code = getattr(e, "code", None)  # urllib.error.HTTPError from older paths
        if isinstance(code, int) and 100 <= code <= 599 and type(e).__name__ == "HTTPError":
            return code
    # Media download errors after retries carry no exception, only this text.
    m = re.search(r"HTTP Error (\d{3})", text)
    return int(m[1]) if m else None


def _http_error(status: int, host: str) -> AdapterError:
    if status in (401, 403, 404, 410):
        return PermanentError("not_found", f"The server at {host} says the file is not there or not allowed (HTTP {status}).")
    if status == 429:
        return TransientError("network", f"The server at {host} says too many requests (HTTP 429). Will try again later.")
    if status >= 500:
        return TransientError("network", f"The server at {host} has a problem (HTTP {status}). Will try again.")
    return PermanentError("http_error", f"The server at {host} refused the download (HTTP {status}).")


def _network_problem(chain: list[BaseException], lowered: str, host: str) -> str | None:
    def has(kind: type[BaseException]) -> bool:
        return any(isinstance(e, kind) for e in chain)

    if has(ConnectionRefusedError) or "connection refused" in lowered:
        return f"Could not reach the server at {host} (connection refused). Will try again."
    if "failed to resolve" in lowered or "name or service not known" in lowered or \
            "temporary failure in name resolution" in lowered or "getaddrinfo failed" in lowered:
        return f"Could not find the server {host} (name lookup failed). Check the link and the internet connection. Will try again."
    if has(TimeoutError) or "timed out" in lowered:
        return f"The server at {host} stopped answering (timed out). Will try again."
    if has(ConnectionError) or "connection reset" in lowered or "more expected" in lowered or \
            "incomplete" in lowered:
        return f"The connection to {host} broke off during the download. Will try again."
    if has(TransportError) or has(OSError):
        return f"A network error stopped the download from {host}. Will try again."
    return None


def _failing_host(text: str) -> str | None:
    # urllib3's messages name the host that actually failed, which may be a CDN.
    m = re.search(r"host='([^']+)', port=(\d+)", text)
    if m is None:
        return None
    port = m[2]
    return m[1] if port in ("80", "443") else f"{m[1]}:{port}"


def _youtube_reason(chain: list[BaseException]) -> str | None:
    for e in chain:
        if getattr(e, "orig_msg", None):
            return str(e.orig_msg)  # type: ignore[attr-defined]
    return None


def _clean(message: str) -> str:
    message = message.replace("\r", "").removeprefix("ERROR: ")
    message = re.sub(r"^\[[\w:]+\] (\S+: )?", "", message)
    message = re.sub(r"^Got error: ", "", message)
    return message.split(" (caused by ")[0].strip()


# -- small things -----------------------------------------------------------


# yt-dlp warns about these on every plain link or retry; they are not news.
_ROUTINE_WARNINGS = ("Falling back on generic information extractor", "Retrying (",
                     "URL could be a direct video link")


class _YtdlpLogger:
    """Receives everything yt-dlp would print; ``debug`` also gets its info lines."""

    def debug(self, msg: str) -> None:
        log.debug("%s", msg.removeprefix("[debug] "))

    def info(self, msg: str) -> None:
        log.info("%s", msg)

    def warning(self, msg: str) -> None:
        routine = any(phrase in msg for phrase in _ROUTINE_WARNINGS)
        log.log(logging.INFO if routine else logging.WARNING, "%s", msg)

    def error(self, msg: str) -> None:
        # The same error is raised to the caller, who decides how loud it is.
        log.info("%s", msg)


def _too_long_message(duration: float, limit: float) -> str:
    return f"This video lasts {format_seconds(duration)}; the limit is {format_seconds(limit)}."


def _mb(n: float) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _float_or_none(value: object) -> float | None:
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
