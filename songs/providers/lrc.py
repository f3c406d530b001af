"""Parse, validate and write LRC synced lyrics.

LRC is a line format: ``[mm:ss.xx]text``, optionally several time tags sharing
one text (a chorus sung three times), and ``[key:value]`` ID tags (``ar``, ``ti``,
``al``, ``length``, ``offset``, ``by``...). The same parser checks lyrics that come
from LRCLIB and lyrics a host pastes into the admin, so every rejection says
which line is wrong and why, in words a host can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Line", "Lrc", "LrcError", "parse_lrc", "parse_lines", "to_lrc"]


@dataclass(frozen=True, order=True)
class Line:
    t: float  # seconds from the start of the song, offset already applied
    text: str


@dataclass
class Lrc:
    lines: list[Line]
    tags: dict[str, str] = field(default_factory=dict)
    offset_ms: int = 0

    @property
    def artist(self) -> str | None:
        return self.tags.get("ar")

    @property
    def title(self) -> str | None:
        return self.tags.get("ti")

    @property
    def album(self) -> str | None:
        return self.tags.get("al")

    @property
    def length(self) -> float | None:
        value = self.tags.get("length")
        return None if value is None else _parse_length(value)


class LrcError(ValueError):
    def __init__(self, line_no: int, line: str, problem: str):
        super().__init__(f"line {line_no}: {line!r} {problem}")
        self.line_no = line_no
        self.line = line
        self.problem = problem


# Minutes may exceed 99 in long medleys; the fraction is tenths, hundredths or ms.
_TIME = re.compile(r"(\d+):(\d{2})(?:\.(\d{1,3}))?")
_LEADING_TAG = re.compile(r"\[([^\[\]]*)\]")
_ID_TAG = re.compile(r"([A-Za-z][A-Za-z0-9_#-]*)\s*:(.*)", re.DOTALL)
_OFFSET = re.compile(r"[+-]?\d+")
_LENGTH = re.compile(r"(?:(\d+):)?(\d+)(?:\.(\d{1,3}))?")


def parse_lines(text: str) -> list[Line]:
    """The timed lines of an LRC text, sorted by time; raises ``LrcError``."""
    return parse_lrc(text).lines


def parse_lrc(text: str) -> Lrc:
    tags: dict[str, str] = {}
    timed: list[tuple[int, str]] = []  # (ms before offset, text)
    previous: tuple[int, int] | None = None  # (ms, line number) of the last single-tag line

    for line_no, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        times, rest = _leading_time_tags(line, line_no)
        if not times:
            key, value = _id_tag(line, line_no)
            tags[key] = value
            continue
        if len(times) == 1:
            # Lines with several tags repeat a chorus and legitimately jump back;
            # a single-tag line that goes back in time is a broken file.
            if previous is not None and times[0] < previous[0]:
                raise LrcError(line_no, line, f"goes back in time (before line {previous[1]}, {_format(previous[0])})")
            previous = (times[0], line_no)
        timed.extend((ms, rest) for ms in times)

    offset_ms = int(tags.get("offset", 0))
    # Positive offset = lyrics shown sooner (the LRC convention), never before 0.
    lines = sorted(Line(max(0, ms - offset_ms) / 1000, words) for ms, words in timed)
    return Lrc(lines=lines, tags=tags, offset_ms=offset_ms)


def to_lrc(lines: Iterable[Line], *, tags: dict[str, str] | None = None) -> str:
    """Serialise timed lines (offset already applied, so none is written)."""
    head = [f"[{key}:{value}]" for key, value in (tags or {}).items() if key != "offset"]
    body = [f"[{_format(round(line.t * 1000))}]{line.text}" for line in sorted(lines)]
    return "\n".join(head + body) + "\n"


def _leading_time_tags(line: str, line_no: int) -> tuple[list[int], str]:
    """The time tags at the start of ``line`` in ms, and the text after them."""
    times: list[int] = []
    pos = 0
    while match := _LEADING_TAG.match(line, pos):
        content = match.group(1)
        if not content[:1].isdigit():
            if times:
                break  # "[00:01.00][chorus]" keeps "[chorus]" as text
            return [], line
        times.append(_time_ms(content, line, line_no))
        pos = match.end()
    if not times and line.startswith("[") and "]" not in line:
        raise LrcError(line_no, line, "has a tag that is never closed with ']'")
    return times, line[pos:].strip()


def _time_ms(content: str, line: str, line_no: int) -> int:
    match = _TIME.fullmatch(content.strip())
    if not match:
        raise LrcError(line_no, line, f"is not a valid time tag: [{content}] should look like [mm:ss.xx]")
    minutes, seconds, fraction = match.groups()
    if int(seconds) >= 60:
        raise LrcError(line_no, line, f"has {seconds} seconds in [{content}]; seconds go up to 59")
    # ".5" is half a second, ".05" five hundredths: pad to milliseconds.
    ms = int((fraction or "0").ljust(3, "0"))
    return (int(minutes) * 60 + int(seconds)) * 1000 + ms


def _id_tag(line: str, line_no: int) -> tuple[str, str]:
    match = _LEADING_TAG.fullmatch(line)
    tag = _ID_TAG.fullmatch(match.group(1)) if match else None
    if tag is None:
        raise LrcError(line_no, line, "is not a lyric line: it should start with a time tag like [00:12.34]")
    key, value = tag.group(1).lower(), tag.group(2).strip()
    if key == "offset" and not _OFFSET.fullmatch(value):
        raise LrcError(line_no, line, "has an offset that is not a whole number of milliseconds")
    if key == "length" and value and _parse_length(value) is None:
        raise LrcError(line_no, line, "has a length that is not mm:ss")
    return key, value


def _parse_length(value: str) -> float | None:
    match = _LENGTH.fullmatch(value.strip())
    if not match:
        return None
    minutes, seconds, fraction = match.groups()
    return int(minutes or 0) * 60 + int(seconds) + int((fraction or "0").ljust(3, "0")) / 1000


def _format(ms: int) -> str:
    minutes, rest = divmod(ms, 60_000)
    seconds, millis = divmod(rest, 1000)
    # Hundredths are what every player reads; keep ms only when they carry information.
    fraction = f"{millis // 10:02d}" if millis % 10 == 0 else f"{millis:03d}"
    return f"{minutes:02d}:{seconds:02d}.{fraction}"
