"""Fetch a release's front cover and its 250 px thumbnail from the Cover Art Archive.

``GET {base}/release/{mbid}`` lists the release's images as JSON; we take the
one marked front. The URLs in that listing point wherever the archive keeps
the files (a mirror may list unreachable ones), so when one fails we ask the
base URL's ``/front`` and ``/front-250`` redirects instead. Files are written to
temporary names and renamed into place, and must start with an image's magic
bytes: a 200 with an HTML error page is not a cover.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from songs.errors import AdapterError, PermanentError
from songs.providers._http import Deadline, get, iter_body, read_json

__all__ = ["DEFAULT_USER_AGENT", "CoverResult", "fetch_front_cover"]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "Encore/0.1 ( https://github.com/encore-karaoke )"
# Cover scans can be huge (tens of MB); a karaoke screen never needs more.
MAX_IMAGE_BYTES = 25 * 1024 * 1024

_MBID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAGIC = [
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
]
_EXTENSIONS = (".jpg", ".png", ".gif", ".webp")
_HEAD_BYTES = 12  # enough for every signature above, WebP's being the longest


@dataclass(frozen=True)
class CoverResult:
    image_path: Path
    thumb_path: Path | None  # None when only the full image could be had


def fetch_front_cover(
    release_mbid: str,
    dest_dir: Path | str,
    *,
    base_url: str,
    timeout: float,
    user_agent: str = DEFAULT_USER_AGENT,
) -> CoverResult | None:
    """Save ``cover.<ext>`` and ``cover-250.<ext>`` in ``dest_dir``; None if the release has no front."""
    if not _MBID.fullmatch(release_mbid):
        raise PermanentError("coverart_bad_id", f"{release_mbid!r} is not a MusicBrainz release id")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    release_url = f"{base_url.rstrip('/')}/release/{release_mbid}"
    deadline = Deadline(timeout, "coverart")

    with requests.Session() as session:
        session.headers["User-Agent"] = user_agent
        listing = get(session, release_url, deadline=deadline)
        if listing is None:
            return None  # the release has no art at all
        front = _front_image(read_json(listing, deadline))
        if front is None:
            return None
        thumbs = front.get("thumbnails") or {}
        image = _download(session, [front.get("image"), f"{release_url}/front"], dest, deadline)
        if image is None:
            return None
        try:
            thumb = _download(
                session, [thumbs.get("250") or thumbs.get("small"), f"{release_url}/front-250"], dest, deadline
            )
        except AdapterError as exc:
            # The thumbnail is a nicety for lists; the cover alone is worth keeping.
            log.info("cover thumbnail for %s not fetched: %s", release_mbid, exc)
            thumb = None
        except BaseException:
            image[0].unlink(missing_ok=True)
            raise
    image_path = _move_into_place(image, dest / "cover")
    thumb_path = _move_into_place(thumb, dest / "cover-250") if thumb else None
    return CoverResult(image_path=image_path, thumb_path=thumb_path)


def _front_image(listing: Any) -> dict[str, Any] | None:
    images = listing.get("images") if isinstance(listing, dict) else None
    if not isinstance(images, list):
        return None
    for image in images:
        if isinstance(image, dict) and (image.get("front") or "Front" in (image.get("types") or [])):
            return image
    return None


def _download(
    session: requests.Session, urls: list[str | None], dest: Path, deadline: Deadline
) -> tuple[Path, str] | None:
    """The first of ``urls`` that yields an image, as (temporary file, extension)."""
    failure: AdapterError | None = None
    for url in filter(None, urls):
        try:
            response = get(session, url, deadline=deadline)
            if response is None:
                continue
            return _save_image(response, dest, deadline)
        except AdapterError as exc:
            if exc.code == "coverart_timeout":
                raise  # no time left for the fallback either
            failure = exc
    if failure is not None:
        raise failure
    return None


def _save_image(response: requests.Response, dest: Path, deadline: Deadline) -> tuple[Path, str]:
    fd, name = tempfile.mkstemp(dir=dest, prefix=".cover-", suffix=".part")
    temp = Path(name)
    try:
        head = b""
        extension = None
        with os.fdopen(fd, "wb") as out:
            for chunk in iter_body(response, deadline, MAX_IMAGE_BYTES):
                out.write(chunk)
                if extension is None and len(head) < _HEAD_BYTES:
                    head += chunk
                    if len(head) >= _HEAD_BYTES:
                        extension = _image_extension(head, response.url)
        return temp, extension or _image_extension(head, response.url)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _image_extension(head: bytes, url: str) -> str:
    for magic, extension in _MAGIC:
        if head.startswith(magic):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if not head:
        raise PermanentError("coverart_not_image", f"{url} sent an empty file")
    raise PermanentError("coverart_not_image", f"{url} did not send an image")


def _move_into_place(download: tuple[Path, str], stem: Path) -> Path:
    temp, extension = download
    final = stem.with_suffix(extension)
    os.replace(temp, final)
    # A cover of another type from an earlier fetch would otherwise linger beside it.
    for other in _EXTENSIONS:
        if other != extension:
            stem.with_suffix(other).unlink(missing_ok=True)
    return final
