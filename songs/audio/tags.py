"""A file's own tags (ID3, MP4, Vorbis comments...), read with mutagen: what the person who
made the file called it, which beats any guess from its name."""

import logging
from dataclasses import dataclass
from pathlib import Path

import mutagen

from songs.providers.titles import guess_artist_title

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str
    album: str
    from_tags: bool  # False: the title (and maybe the artist) is a guess from the name


def read_tags(path: Path, *, name: str | None = None) -> Tags:
    """Title, artist and album from the file's tags, else guessed from `name` (the name the
    user gave the file: an upload is stored under a name of our own) or the path's."""
    title = artist = album = ""
    try:
        tagged = mutagen.File(path, easy=True)
    except Exception as exc:  # mutagen raises many kinds on a damaged file; ffmpeg will judge it
        logger.debug("No tags read from %s: %s", path, exc)
        tagged = None
    if tagged is not None and tagged.tags is not None:
        title = _first(tagged.tags, "title")
        artist = _first(tagged.tags, "artist") or _first(tagged.tags, "albumartist")
        album = _first(tagged.tags, "album")
    from_tags = bool(title)
    if not title:
        guess = guess_artist_title(Path(name or path.name).name)
        title = guess.title
        artist = artist or guess.artist or ""
    return Tags(title=title[:300], artist=artist[:300], album=album[:300], from_tags=from_tags)


def _first(tags, key: str) -> str:
    try:
        values = tags.get(key) or []
    except (KeyError, ValueError):
        return ""
    return str(values[0]).strip() if values else ""
