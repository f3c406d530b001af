"""Turn a YouTube title or a file name into a clean (artist, title) guess.

Searches on MusicBrainz and LRCLIB match far better on "ABBA" / "Dancing Queen"
than on "ABBA - Dancing Queen (Official Music Video) [HD]", so every source runs
its raw title through ``guess_artist_title`` before any lookup. It is a
heuristic: it strips what is certainly noise and leaves anything it is unsure
about, because a search tolerates an extra word better than a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TitleGuess", "guess_artist_title"]


@dataclass(frozen=True)
class TitleGuess:
    artist: str | None
    title: str
    featuring: tuple[str, ...] = ()


_AUDIO_EXTENSIONS = "mp3|m4a|aac|flac|wav|ogg|oga|opus|wma|aiff?|alac|webm|mp4|mkv|mov|avi|cdg|kar|mid"
_EXTENSION = re.compile(rf"\.(?:{_AUDIO_EXTENSIONS})$", re.IGNORECASE)
# "01 - ", "01. ", "1) ", "03 " but not a title that merely starts with a number
# ("99 Luftballons"): a track number is followed by a separator or zero-padded.
_TRACK_NUMBER = re.compile(r"^\s*(?:cd\s*\d+\s*[-.]?\s*)?(?:\d{1,3}\s*[-.)]|0\d\s)\s*", re.I)

# Words that make a bracketed or piped part noise. Anything else in brackets
# ("(I Can't Get No)", "(Don't Fear)") is part of the real title and stays.
_NOISE_WORDS = (
    r"official|music\s*video|video\s*clip|videoclip|lyric|lyrics|letra|paroles"
    r"|audio|visuali[sz]er|hd|hq|4k|1080p|720p|remaster(?:ed)?|karaoke|instrumental"
    r"|sing\s*along|with\s+lyrics|backing\s+track|explicit|clean|radio\s+edit"
    r"|full\s+song|mv|m/v|color\s+coded|on\s*screen|official\s+version|no\s+vocals?"
    r"|in\s+the\s+style\s+of|originally\s+performed\s+by|made\s+famous\s+by"
)
_NOISE = re.compile(rf"\b(?:{_NOISE_WORDS})\b", re.IGNORECASE)
_BRACKETED = re.compile(r"\s*[(\[【]([^()\[\]【】]*)[)\]】]")
_FEAT = re.compile(r"\s*[(\[]?\b(?:feat\.?|ft\.?|featuring)\s+([^()\[\]]+?)[)\]]?(?=\s*(?:[-–—|(\[]|$))", re.IGNORECASE)
_STYLE_OF = re.compile(
    r"\b(?:in\s+the\s+style\s+of|originally\s+performed\s+by|made\s+famous\s+by)\s+(.+)",
    re.IGNORECASE,
)
# Spaced dashes only: "Jay-Z" and "Ob-La-Di" must not split.
_DASH = re.compile(r"\s+[-–—~]\s+")
_QUOTED = re.compile(r'^(?P<artist>[^"“”]+?)\s*["“](?P<title>[^"“”]+)["”]\s*(?P<rest>.*)$')
_KARAOKE_CHANNEL = re.compile(r"karaoke|karafun|sing\s*king|singking|lucky\s*voice", re.I)
_SPACES = re.compile(r"\s+")


def guess_artist_title(raw_title: str, uploader: str | None = None) -> TitleGuess:
    """Best guess of the artist and the clean title behind a video title or file name."""
    text = _normalise_file_name(raw_title)
    channel_artist = _artist_from_uploader(uploader)

    # "Hello (In the Style of Adele) [Karaoke Version]" names the artist in the noise.
    style_artist = _style_of_artist(text)

    text, featuring = _extract_featuring(text)
    text = _strip_noise(text)

    artist: str | None
    if uploader and uploader.strip().lower().endswith(" - topic"):
        # YouTube Music "Artist - Topic" uploads carry the bare track title, which may
        # itself contain a dash ("Song - 2011 Remaster"), so never split it.
        artist, title = channel_artist, text
    else:
        artist, title = _split_artist_title(text)
        if artist is None:
            artist = style_artist or (channel_artist if _is_official(raw_title, uploader) else None)

    if artist:
        artist, more = _split_artist_featuring(artist)
        featuring = featuring + more
    return TitleGuess(
        artist=_tidy(artist) or None,
        title=_tidy(title) or _tidy(raw_title),
        featuring=tuple(_tidy(f) for f in featuring if _tidy(f)),
    )


def _normalise_file_name(raw: str) -> str:
    text = raw.strip()
    if _EXTENSION.search(text):
        text = _EXTENSION.sub("", text)
        # File names use underscores for spaces; "Artist_-_Title" has both.
        if "_" in text and text.count("_") >= text.count(" "):
            text = text.replace("_", " ")
        text = _TRACK_NUMBER.sub("", text, count=1)
    return _SPACES.sub(" ", text).strip()


def _artist_from_uploader(uploader: str | None) -> str | None:
    if not uploader or _KARAOKE_CHANNEL.search(uploader):
        return None
    name = re.sub(r"\s+-\s+topic$", "", uploader.strip(), flags=re.I)
    name = re.sub(r"\s*(?:VEVO|official(?:\s+channel)?)$", "", name, flags=re.I).strip()
    if " " not in name and re.search(r"[a-z][A-Z]", name):
        # "TaylorSwiftVEVO" -> "Taylor Swift"
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return name or None


def _is_official(raw_title: str, uploader: str | None) -> bool:
    """An official upload comes from the artist's own channel, so the channel names the artist."""
    if not uploader:
        return False
    return bool(re.search(r"\bofficial\b", raw_title, re.I) or re.search(r"vevo$", uploader, re.I))


def _style_of_artist(text: str) -> str | None:
    for inner in _BRACKETED.findall(text):
        match = _STYLE_OF.search(inner)
        if match:
            return _NOISE.sub("", match.group(1)).strip(" -")
    return None


def _extract_featuring(text: str) -> tuple[str, tuple[str, ...]]:
    found: list[str] = []

    def keep(match: re.Match[str]) -> str:
        found.append(match.group(1))
        return ""

    return _FEAT.sub(keep, text), tuple(found)


def _strip_noise(text: str) -> str:
    # Bracketed noise anywhere: "(Official Video)", "[HD]", "(Remastered 2011)".
    text = _BRACKETED.sub(lambda m: "" if _is_noise(m.group(1)) else m.group(0), text)
    # Piped or dashed trailing noise: "| Official Audio", "- Karaoke Version | KaraFun".
    parts = re.split(r"\s+\|\s+|\s*\|\s*", text)
    kept = [p for p in parts if p.strip() and not _is_noise(p)]
    text = " | ".join(kept[:1]) if kept else text
    pieces = _DASH.split(text)
    while len(pieces) > 1 and _is_noise(pieces[-1]):
        pieces.pop()
    dashes = _DASH.findall(text)
    text = pieces[0] + "".join(d + p for d, p in zip(dashes, pieces[1:], strict=False))
    return text.strip()


def _is_noise(part: str) -> bool:
    """Noise if, once the noise words and years are gone, (almost) nothing is left."""
    if not _NOISE.search(part):
        return False
    rest = _NOISE.sub("", part)
    rest = re.sub(r"\b(?:19|20)\d\d\b|\b(?:version|ver|video|edit|track|mix|ver\.)\b", "", rest, flags=re.I)
    rest = _STYLE_OF.sub("", rest)
    return len(re.sub(r"[\W_]+", "", rest)) <= 2 or bool(_STYLE_OF.search(part))


def _split_artist_title(text: str) -> tuple[str | None, str]:
    quoted = _QUOTED.match(text)
    if quoted and not quoted.group("rest").strip(" -"):
        return quoted.group("artist").strip(" -"), quoted.group("title")
    parts = _DASH.split(text, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0], parts[1]
    return None, text


def _split_artist_featuring(artist: str) -> tuple[str, tuple[str, ...]]:
    parts = re.split(r"\s+(?:feat\.?|ft\.?|featuring)\s+", artist, maxsplit=1, flags=re.I)
    if len(parts) == 2:
        return parts[0], (parts[1],)
    return artist, ()


def _tidy(text: str | None) -> str:
    if not text:
        return ""
    text = _SPACES.sub(" ", text)
    return text.strip(' \t-–—|~_:"“”')
