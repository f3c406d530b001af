"""Search that forgives: the folded text a song is found by, and how well a song matches a query.

Pure functions, no ORM: songs/search_index.py stores what `song_texts` makes, and
songs/selectors.py finds the candidates and ranks them with `rank`.

Folding makes "Café", "CAFE" and "cafe" one word on every database (NFKD, combining marks
dropped, casefold, a few letters NFKD keeps as they are spelled out, punctuation to spaces),
so the databases only compare plain lowercase text. Typos are forgiven per word: a query
word at most one edit (two from seven letters) away from a word of the song, or from its
beginning while the singer is still typing ("dancng", "dancn" → "dancing").
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

# Letters NFKD does not take apart, spelled as people type them without the accent.
_SPELLED = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ŀ": "l",
    "æ": "ae", "œ": "oe", "þ": "th", "ß": "ss",
})
# An apostrophe joins ("Don't" is found by "dont"); any other non-word character separates.
_APOSTROPHES = re.compile(r"['’ʼ`´]")
_SEPARATORS = re.compile(r"[\W_]+")

# How much of a song's lyrics it is found by: its distinct words in order, up to this many
# characters (a few hundred words: every word of most songs; the index stays bounded).
LYRICS_CHARS = 3000
# Query words shorter than this match only the start of a word (no typo, no middle).
MIN_FUZZY = 4
MIN_SUBSTRING = 3


def fold(text: str) -> str:
    """`text` as the search compares it: lowercase words without accents, one space apart."""
    if not text:
        return ""
    if text.isascii():
        # Most lyrics lines: no accent to strip, nothing to normalize (the same result, a
        # fifth of the time; a search's lyrics snippets fold every line of 30 songs).
        return " ".join(_SEPARATORS.sub(" ", _APOSTROPHES.sub("", text.lower())).split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    # NFC again: scripts whose letters NFKD splits into non-combining parts (Hangul) come back whole.
    lowered = unicodedata.normalize("NFC", stripped).casefold().translate(_SPELLED)
    return " ".join(_SEPARATORS.sub(" ", _APOSTROPHES.sub("", lowered)).split())


def _joined(text: str) -> list[str]:
    """The words written with punctuation inside, joined ("a-ha" → "aha", "AC/DC" → "acdc"),
    so the name is found typed either way."""
    joined = []
    for part in text.split():
        folded = fold(part)
        if " " in folded:
            joined.append(folded.replace(" ", ""))
    return joined


def metadata_text(*, title: str, artist: str, album: str) -> str:
    """What the search matches first, typos forgiven: title, artist and album, folded."""
    words = [fold(title), fold(artist), fold(album), *_joined(f"{title} {artist} {album}")]
    return " ".join(word for word in words if word)


_LRC_TAG = re.compile(r"\[[^\]]*\]")


def lyrics_text(*, synced: str, plain: str) -> str:
    """The distinct words of the lyrics, folded, in order of appearance, at most LYRICS_CHARS."""
    text = plain or _LRC_TAG.sub(" ", synced or "")
    words, size = [], 0
    for word in dict.fromkeys(fold(text).split()):
        size += len(word) + 1
        if size > LYRICS_CHARS + 1:
            break
        words.append(word)
    return " ".join(words)


def song_texts(song) -> tuple[str, str]:
    """(metadata text, lyrics text) of a Song (or any object with its fields), as stored:
    each word after a space, the first too, so that `LIKE '% wo%'` finds a word by its
    start, even a two-letter one, through a trigram index."""
    metadata = metadata_text(title=song.title, artist=song.artist, album=song.album)
    lyrics = lyrics_text(synced=song.lyrics_synced, plain=song.lyrics_plain)
    return (f" {metadata}" if metadata else "", f" {lyrics}" if lyrics else "")


def query_words(query: str, *, limit: int = 10) -> list[str]:
    """The distinct folded words of a query, at most `limit`."""
    return list(dict.fromkeys(fold(query or "").split()))[:limit]


def max_edits(word: str) -> int:
    """How many typos a query word may hold: none under MIN_FUZZY letters, then one, two from seven."""
    if len(word) < MIN_FUZZY:
        return 0
    return 1 if len(word) < 7 else 2


def close_words(word: str, vocabulary: Iterable[str], *, limit: int = 8) -> list[str]:
    """The words of `vocabulary` within max_edits of `word`, or whose beginning is (the
    singer is still typing): the nearest first."""
    edits = max_edits(word)
    if not edits:
        return []
    found = []
    for candidate in vocabulary:
        if candidate == word:
            continue
        distance = _typo_distance(word, candidate)
        if distance <= edits:
            found.append((distance, len(candidate), candidate))
    return [candidate for _, _, candidate in sorted(found)[:limit]]


def _typo_distance(word: str, candidate: str) -> int:
    # The whole candidate, or its beginning one letter longer than the word: "dancn" is one
    # edit from "dancin", the start of "dancing".
    whole = OSA.distance(word, candidate)
    if len(candidate) <= len(word) + 1:
        return whole
    return min(whole, OSA.distance(word, candidate[:len(word) + 1]))


# --- ranking ----------------------------------------------------------------------------

# How well one query word matches one word of the song.
EXACT, PREFIX, INSIDE, TYPO, LYRICS = 1.0, 0.9, 0.6, 0.75, 0.3


@dataclass(frozen=True)
class Match:
    """How a song matches a query: `tier` 0 when every word is a word or the start of one
    in the title, artist or album; 1 when some only with a typo or inside a word; 2 when
    some only in the lyrics. `score`: higher is better, within a tier."""

    tier: int
    score: float


def _word_score(word: str, words: list[str]) -> float:
    best = 0.0
    edits = max_edits(word)
    for candidate in words:
        if candidate == word:
            return EXACT
        if candidate.startswith(word):
            # A longer rest is a weaker match: "queen" before "queens" before "queensryche".
            best = max(best, PREFIX - 0.1 * (1 - len(word) / len(candidate)))
        elif len(word) >= MIN_SUBSTRING and word in candidate:
            best = max(best, INSIDE)
        elif edits and best < TYPO:
            distance = _typo_distance(word, candidate)
            if distance <= edits:
                best = max(best, TYPO - 0.1 * distance)
    return best


def rank(words: list[str], *, metadata: str, lyrics: str, title: str) -> Match | None:
    """How well a song with these folded texts matches the query `words`; None when some
    word matches nothing (every word must match, as before)."""
    if not words:
        return Match(tier=0, score=0.0)
    song_words = metadata.split()
    lyric_words = None
    total, tier = 0.0, 0
    for word in words:
        score = _word_score(word, song_words)
        if score < PREFIX - 0.1:
            tier = max(tier, 1)
        if score == 0.0:
            if lyric_words is None:
                lyric_words = lyrics.split()
            # The lyrics: a word or its beginning (a line half remembered), never a typo.
            found = any(candidate.startswith(word) for candidate in lyric_words) or (
                len(word) >= MIN_SUBSTRING and word in lyrics
            )
            if not found:
                return None
            score, tier = LYRICS, 2
        total += score
    # The whole query against the title breaks ties: "dancng" is nearer "Dancing Queen"
    # than "Dancing in the Dark".
    closeness = fuzz.ratio(" ".join(words), title) / 100
    return Match(tier=tier, score=total / len(words) + 0.2 * closeness)


def best_lyrics_line(lines: Iterable[str], words: list[str], metadata: str) -> tuple[str, str]:
    """(the lyrics line with the most query words not in the metadata, the first such word
    in it): ("", "") when the metadata has them all."""
    song_words = metadata.split()
    missing = [word for word in words if _word_score(word, song_words) == 0.0]
    if not missing:
        return "", ""
    best, best_count, best_word = "", 0, ""
    for line in lines:
        folded = fold(line)
        present = [word for word in missing if word in folded]
        if len(present) > best_count:
            best, best_count, best_word = line, len(present), present[0]
    return best, best_word


def ordered(matches: Mapping, *, ready: Mapping, titles: Mapping) -> list:
    """The keys of `matches` ({key: Match}), best first: by tier, ready songs first within
    a tier, then by score, then by title."""
    return sorted(matches, key=lambda key: (
        matches[key].tier, not ready[key], -round(matches[key].score, 6), titles[key], str(key)
    ))
