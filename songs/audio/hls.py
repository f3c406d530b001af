"""The files of a stem's live stream (an HLS event playlist of fMP4 segments), named
without loading torch: the separation writes them, the web process serves and reads them.
"""

import re
from pathlib import Path

VOCALS = "vocals"
INSTRUMENTAL = "instrumental"
STEMS = (INSTRUMENTAL, VOCALS)
SEGMENT_SECONDS = 2  # short: a player starts (and a hold resumes) a segment sooner

# What the stream's folder may hold, and nothing else is served from it.
FILE_NAME = re.compile(r"^(instrumental|vocals)(\.m3u8|-init\.mp4|-\d{5,7}\.m4s)$")
_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)", re.MULTILINE)


def names(stem: str) -> dict[str, str]:
    """One stem's files: the playlist players open, the fMP4 init segment, the media
    segments' pattern (ffmpeg's)."""
    return {"playlist": f"{stem}.m3u8", "init": f"{stem}-init.mp4", "segments": f"{stem}-%05d.m4s"}


def playlist_name(stem: str) -> str:
    return names(stem)["playlist"]


def held_seconds(playlist: Path) -> tuple[float, bool]:
    """How many seconds of audio a playlist lists, and whether it is complete (ENDLIST)."""
    try:
        text = playlist.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return 0.0, False
    return sum(float(match) for match in _EXTINF.findall(text)), "#EXT-X-ENDLIST" in text
