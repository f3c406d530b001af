"""Reads of the songs app that are more than a filter."""

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Floor, Length, Lower, Mod

from common.errors import ApplicationError
from jobs.models import Job
from songs import search, search_index
from songs.audio.ffmpeg import format_seconds
from songs.errors import AdapterError
from songs.models import SearchWord, Song
from songs.providers.lrc import Line, LrcError, parse_lrc
from songs.sources import ytdlp

# --- library search (songs/search.py folds and ranks; songs/search_index.py keeps the texts) ---

# How many songs each step of a search reads at most before ranking them in Python.
SEARCH_CANDIDATES = 200
# A word that looks like a link or a YouTube id: staff searches also look in the songs' sources.
_LINKISH = re.compile(r"^(?:\S*[/.:]\S*|[A-Za-z0-9_-]{11})$")


@dataclass(frozen=True)
class Found:
    """Songs matching a query, best first, and how each matched (songs.search.Match)."""

    songs: list[Song]
    matches: dict
    words: list[str]


def _needle(word: str) -> str:
    # Every stored word follows a space (songs/search_index.py): a two-letter word is
    # looked for as the start of a word (" wo"), which the trigram indexes can still use.
    return f" {word}" if len(word) < search.MIN_SUBSTRING else word


def _containing(
    songs: QuerySet[Song], groups: list[list[tuple[str, str]]], *, shortest_first: bool, defer: tuple = (),
    limit: int = SEARCH_CANDIDATES,
) -> QuerySet:
    """The songs of `songs` matching every group, a group being one query word's (column,
    text it contains) pairs, any of which will do; at most `limit` of them, those
    with the shortest search_text first when `shortest_first` (the closest to the words).

    PostgreSQL: `LIKE '%text%'` on the columns, through their trigram indexes. SQLite: the
    FTS5 table first (its MATCH runs the ORs and ANDs on its index), then those songs by id,
    each checked against `songs` by id: in one query with `songs`' own filters, SQLite
    without statistics walks every live song by the deleted_at index instead."""
    songs = songs.defer(*defer) if defer else songs
    if not search_index.uses_fts():
        condition = Q()
        for group in groups:
            either = Q()
            for column, needle in group:
                either |= Q(**{f"{column}__contains": needle})
            condition &= either
        matching = songs.filter(condition)
        # Unsorted rather than the model's newest first: the scan stops at the first few
        # hundred instead of reading every match to sort it.
        return (matching.order_by(Length("search_text"), "pk") if shortest_first else matching.order_by())[:limit]
    ids = search_index.fts_match(groups, shortest_first=shortest_first, limit=limit * 5)
    matching = Song.objects.filter(pk__in=ids).filter(Exists(songs.filter(pk=OuterRef("pk")).values("pk")))
    matching = matching.defer(*defer) if defer else matching
    return (matching.order_by(Length("search_text"), "pk") if shortest_first else matching.order_by())[:limit]


def _typo_corrections(words: list[str]) -> dict[str, list[str]]:
    """For each query word long enough to hold a typo: the words of the library it may have
    meant (search.close_words), among those that start with the same letter."""
    corrections = {}
    for word in words:
        if search.max_edits(word):
            first = word[0]
            vocabulary = SearchWord.objects.filter(word__gte=first, word__lt=chr(ord(first) + 1))
            lengths = range(len(word) - search.max_edits(word), 10_000)
            corrections[word] = search.close_words(
                word, (w for w in vocabulary.values_list("word", flat=True).iterator() if len(w) in lengths)
            )
    return corrections


def song_find(*, query: str, songs: QuerySet[Song], links: bool = False, enough: int = SEARCH_CANDIDATES) -> Found:
    """The songs of `songs` matching `query`, best first: every word of it in the title,
    artist or album, as a word, its beginning, inside a word, or with a typo; else in the
    lyrics. Case, accents and punctuation do not matter. At most 2 × SEARCH_CANDIDATES.

    Ranking (songs.search.ordered): songs whose every word matched a word (or its start)
    of the title, artist or album, then those with a typo or inside a word, then those
    found in the lyrics; ready songs first within each, then the closest.
    `links`: a word that looks like a link or an id also finds the songs with that source.
    `enough`: the lyrics are searched only when the title, artist and album gave fewer
    songs than this (a singer's page shows 30); there, each word as typed (no typos) in
    the lyrics or the title, artist and album.
    """
    words = search.query_words(query)
    # One-letter words only rank (no index finds them): alone, among the first songs A–Z.
    sought = [word for word in words if len(word) > 1]
    if not sought:
        first = songs.defer("lyrics_synced", "lyrics_plain").order_by("search_text", "pk")[:SEARCH_CANDIDATES]
        matches = {song.pk: search.rank(words, metadata=song.search_text, lyrics="", title="") for song in first}
        return Found(songs=[song for song in first if matches[song.pk]], matches=matches, words=words)
    corrections = _typo_corrections(sought)
    metadata_groups = [
        [("search_text", _needle(word))] + [("search_text", f" {near}") for near in corrections.get(word, [])]
        for word in sought
    ]
    candidates = list(_containing(songs, metadata_groups, shortest_first=True,
                                  defer=("lyrics_synced", "lyrics_plain", "search_lyrics")))
    matches = {}
    for song in candidates:
        match = search.rank(words, metadata=song.search_text, lyrics="", title=search.fold(song.title))
        if match is not None:
            matches[song.pk] = match
    if links and len(words) == 1 and _LINKISH.match(query.strip()):
        raw = query.strip()
        linked = songs.filter(Q(source_url__icontains=raw) | Q(source_id__icontains=raw)).exclude(pk__in=list(matches))
        for song in linked[:SEARCH_CANDIDATES]:
            matches[song.pk] = search.Match(tier=0, score=1.0)  # the very link
            candidates.append(song)
    if len(matches) < enough:
        # Not enough from the title, artist and album: the lyrics too (no typos there).
        # A word's typo corrections are left out here: spelled out over the lyrics' big
        # index, each one read the postings of its common trigrams (" ta", "ake"): three
        # quarters of a slow search's time at 100,000 songs (bench/library_search.py).
        lyrics_groups = [[("search_text", _needle(word)), ("search_lyrics", _needle(word))] for word in sought]
        # Twice what is shown, not the whole SEARCH_CANDIDATES: each comes with its lyrics'
        # text to rank, the bulk of a singer's search that reaches the lyrics.
        more = _containing(songs.exclude(pk__in=list(matches)), lyrics_groups, shortest_first=False,
                           defer=("lyrics_synced", "lyrics_plain"), limit=min(SEARCH_CANDIDATES, 2 * enough))
        for song in more:
            match = search.rank(words, metadata=song.search_text, lyrics=song.search_lyrics,
                                title=search.fold(song.title))
            if match is not None:
                matches[song.pk] = match
                candidates.append(song)
    by_pk = {song.pk: song for song in candidates}
    order = search.ordered(
        matches,
        ready={pk: by_pk[pk].status == Song.Status.READY for pk in matches},
        titles={pk: by_pk[pk].search_text for pk in matches},
    )
    return Found(songs=[by_pk[pk] for pk in order], matches=matches, words=words)


def songs_in_order(songs: QuerySet[Song], ids: list) -> QuerySet[Song]:
    """`songs` with these ids, in this order (a ranked search as a QuerySet: the API pages it)."""
    if not ids:
        return songs.none()
    rank = Case(*[When(pk=pk, then=Value(position)) for position, pk in enumerate(ids)], output_field=IntegerField())
    return songs.filter(pk__in=ids).annotate(search_rank=rank).order_by("search_rank")


def song_search(
    *, query: str = "", status: str | None = None, source: str | None = None, include_deleted: bool = False
) -> QuerySet[Song]:
    """The Library page's songs: the filters, then `query` (song_find, with links): best
    match first; without a query, newest first."""
    songs = Song.objects.all()
    if not include_deleted:
        songs = songs.filter(deleted_at__isnull=True)
    if status:
        songs = songs.filter(status=status)
    if source:
        songs = songs.filter(source=source)
    if not search.query_words(query):
        return songs.order_by("-created_at")
    found = song_find(query=query, songs=songs, links=True)
    return songs_in_order(songs, [song.pk for song in found.songs])


@dataclass(frozen=True)
class SingerHit:
    """One result of a singer's search: the song, and the lyrics line that matched (if the
    words were found in the lyrics rather than in the title, artist or album)."""

    song: Song
    snippet: str = ""


SNIPPET_CHARS = 90
_LRC_TAG = re.compile(r"\[[^\]]*\]")


def _lyrics_lines(song) -> list[str]:
    text = song.lyrics_plain or _LRC_TAG.sub("", song.lyrics_synced or "")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _snippet(line: str, word: str) -> str:
    """The line, cut around `word` when it is long."""
    if len(line) <= SNIPPET_CHARS:
        return line
    at = max(0, search.fold(line).find(word) - SNIPPET_CHARS // 3)
    cut = line[at:at + SNIPPET_CHARS].strip()
    return ("…" if at > 0 else "") + cut + ("…" if at + SNIPPET_CHARS < len(line) else "")


def lyrics_snippet(song, words: list[str]) -> str:
    """The lyrics line with the most of the query `words` the title, artist and album lack."""
    line, word = search.best_lyrics_line(_lyrics_lines(song), words, song.search_text)
    return _snippet(line, word) if line else ""


def singer_songs() -> QuerySet[Song]:
    """What a singer may queue: live songs that did not fail."""
    return Song.objects.filter(deleted_at__isnull=True).exclude(status__in=Song.STOPPED)


def song_search_for_singers(*, query: str = "", limit: int = 30) -> list[SingerHit]:
    """A singer's search (song_find over singer_songs), the best `limit`; a song found by
    its lyrics comes with the line. Without a query: the first `limit` of the library, A–Z."""
    if not search.query_words(query):
        return [SingerHit(song=song) for song in song_browse_for_singers(per_page=limit).songs]
    found = song_find(query=query, songs=singer_songs(), enough=limit)
    best = found.songs[:limit]
    lyrical = [song.pk for song in best if found.matches[song.pk].tier == 2]
    lyrics = {row.pk: row for row in Song.objects.filter(pk__in=lyrical).only("pk", "lyrics_plain", "lyrics_synced")}
    return [
        SingerHit(song=song, snippet=lyrics_snippet(_LyricsOf(lyrics[song.pk], song.search_text), found.words)
                  if song.pk in lyrics else "")
        for song in best
    ]


@dataclass(frozen=True)
class _LyricsOf:
    row: Song
    search_text: str

    @property
    def lyrics_plain(self) -> str:
        return self.row.lyrics_plain

    @property
    def lyrics_synced(self) -> str:
        return self.row.lyrics_synced


# --- browsing the library (the singer's page without a query) --------------------------------

BROWSE_ORDERS = {"title": "A–Z", "artist": "By artist"}
BROWSE_PER_PAGE = 50


@dataclass(frozen=True)
class LibraryPage:
    """One page of the whole library for singers: `songs`, `total` songs in all, `number`
    of `pages`, the `order` ("title" or "artist")."""

    songs: list[Song]
    total: int
    number: int
    pages: int
    per_page: int
    order: str

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.number * self.per_page)

    @property
    def first_position(self) -> int:
        return (self.number - 1) * self.per_page + 1


def song_browse_for_singers(*, order: str = "title", page: int = 1, per_page: int = BROWSE_PER_PAGE) -> LibraryPage:
    """The whole library a singer may queue, a page at a time: ready songs first, then A–Z
    by title (`order="title"`) or by artist, then title (`"artist"`; songs without an
    artist last). A page past the end is the last page."""
    order = order if order in BROWSE_ORDERS else "title"
    songs = singer_songs().annotate(
        not_ready=Case(When(status=Song.Status.READY, then=Value(0)), default=Value(1), output_field=IntegerField())
    )
    total = songs.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    if order == "artist":
        songs = songs.annotate(
            no_artist=Case(When(artist="", then=Value(1)), default=Value(0), output_field=IntegerField()),
        ).order_by("not_ready", "no_artist", Lower("artist"), "search_text", "pk")
    else:
        # search_text starts with the folded title: "Éclair" is with the e's, on every database.
        songs = songs.order_by("not_ready", "search_text", "pk")
    start = (page - 1) * per_page
    chosen = list(songs.defer("lyrics_synced", "lyrics_plain", "search_lyrics")[start:start + per_page])
    return LibraryPage(songs=chosen, total=total, number=page, pages=pages, per_page=per_page, order=order)


# The empty-value exclusions repeat the conditions of the partial unique indexes,
# which is what lets SQLite use them: without them it walked every live song
# (13 ms per import with 1,400 songs, growing with the library).
def live_song_with_source(*, source: str, source_id: str) -> Song | None:
    """The live song imported from (source, source_id), if any (at most one: a unique index)."""
    return Song.objects.filter(deleted_at__isnull=True, source=source, source_id=source_id).exclude(source_id="").first()


def live_songs_with_content(*, content_hash: str) -> QuerySet[Song]:
    """The live song with this audio (at most one: a unique index)."""
    return Song.objects.filter(deleted_at__isnull=True, content_hash=content_hash).exclude(content_hash="")


def song_rows(songs: QuerySet[Song] | None = None) -> QuerySet[Song]:
    """What templates/songs/partials/_song.html needs: `active_jobs` (the song's import or
    reprocess first, then its key changes being rendered) and m:ss.

    Every render of the row (page, HTMX response, WebSocket push) should load
    its song through this, or the row loses its progress bar.
    """
    songs = Song.objects.all() if songs is None else songs
    exclusive_first = Case(When(kind__in=Job.EXCLUSIVE_KINDS, then=0), default=1)
    return songs.prefetch_related(
        Prefetch("jobs", queryset=Job.objects.filter(status__in=Job.ACTIVE).order_by(exclusive_first, "created_at"),
                 to_attr="active_jobs")
    ).annotate(duration_minutes=Floor(F("duration") / 60), duration_seconds=Mod(Floor(F("duration")), 60))


def song_rows_to_resync(*, since=None, limit: int = 100) -> QuerySet[Song]:
    """What /ws/library/html/ sends on (re)connect: the songs with an active job, and every
    song changed after `since` (when the page was drawn), deleted ones too."""
    changed = Q(pk__in=Job.objects.filter(status__in=Job.ACTIVE).values("song_id"))
    if since is not None:
        changed |= Q(updated_at__gte=since) | Q(pk__in=Job.objects.filter(updated_at__gte=since).values("song_id"))
    return song_rows(Song.objects.filter(changed)).order_by("-created_at")[:limit]


def song_row(*, song_id) -> Song:
    """One song ready for its row (deleted ones too); Song.DoesNotExist when there is none."""
    return song_rows(Song.objects.filter(pk=song_id)).get()


def song_lyrics_lines(song: Song) -> list[Line]:
    """The timed lines of the song's synced lyrics (offset applied); [] when it has none."""
    if not song.lyrics_synced:
        return []
    try:
        return parse_lrc(song.lyrics_synced).lines
    except LrcError:
        # Everything stored was validated; a file edited by hand in the database is not worth a 500.
        return []


def song_duplicate_mbids() -> QuerySet:
    """Recording MBIDs shared by more than one live song (likely duplicates)."""
    return (
        Song.objects.filter(deleted_at__isnull=True).exclude(recording_mbid="")
        .values("recording_mbid").annotate(songs=Count("id")).filter(songs__gt=1).values("recording_mbid")
    )


def song_likely_duplicates(*, song: Song | None = None) -> QuerySet[Song]:
    """Live songs sharing a MusicBrainz recording with another live song (or with `song`)."""
    songs = Song.objects.filter(deleted_at__isnull=True)
    if song is not None:
        if not song.recording_mbid:
            return songs.none()
        return songs.filter(recording_mbid=song.recording_mbid).exclude(pk=song.pk)
    return songs.filter(recording_mbid__in=song_duplicate_mbids()).order_by("recording_mbid", "created_at")


# -- YouTube search ----------------------------------------------------------

YOUTUBE_QUERY_MAX_CHARS = 200


def youtube_search_cache_key(query: str, limit: int) -> str:
    digest = hashlib.sha256(" ".join(query.lower().split()).encode()).hexdigest()[:32]
    return f"youtube-search:{limit}:{digest}"


def youtube_search(*, query: str, limit: int = 5) -> list[dict]:
    """Videos on YouTube for `query` (id, title, duration, channel, url, thumbnail), cached
    for YOUTUBE_SEARCH_CACHE_SECONDS.

    ApplicationError: 400 for a blank or too long query (or a search YouTube refuses),
    503 with a message when YouTube cannot be reached.
    """
    query = " ".join((query or "").split())
    if not query:
        raise ApplicationError("Type what to look for on YouTube.", extra={"code": "blank_query"})
    if len(query) > YOUTUBE_QUERY_MAX_CHARS:
        raise ApplicationError(
            f"That search is too long: at most {YOUTUBE_QUERY_MAX_CHARS} characters.", extra={"code": "query_too_long"}
        )
    key = youtube_search_cache_key(query, limit)
    results = cache.get(key)
    if results is None:
        try:
            found = ytdlp.search(query, limit=limit)
        except AdapterError as exc:
            raise ApplicationError(
                exc.message, extra={"code": exc.code}, status_code=503 if exc.transient else 400
            ) from None
        results = [dataclasses.asdict(result) for result in found]
        cache.set(key, results, settings.YOUTUBE_SEARCH_CACHE_SECONDS)
        # Each result by its id too: a singer who requests one is not made to wait for
        # YouTube again (youtube_video).
        cache.set_many({_video_key(r["id"]): r for r in results}, settings.YOUTUBE_VIDEO_CACHE_SECONDS)
    return results


def _video_key(video_id: str) -> str:
    return f"youtube-video:{video_id}"


def youtube_video(*, video_id: str) -> dict:
    """What YouTube says of one video (id, title, duration, channel, url, thumbnail): from a
    recent search, or asked. ApplicationError: 400 when YouTube says it is unavailable
    (with the reason), 503 when YouTube cannot be reached."""
    key = _video_key(video_id)
    info = cache.get(key)
    if info is None:
        try:
            info = dataclasses.asdict(ytdlp.video_info(video_id))
        except AdapterError as exc:
            raise ApplicationError(
                exc.message, extra={"code": exc.code, "video": video_id}, status_code=503 if exc.transient else 400
            ) from None
        cache.set(key, info, settings.YOUTUBE_VIDEO_CACHE_SECONDS)
    return info


# Thumbnails are shown only from YouTube's own image hosts (the page links to nothing else).
_YOUTUBE_IMAGE_HOSTS = (".ytimg.com", ".ggpht.com")


@dataclass(frozen=True)
class YoutubeHit:
    """One YouTube search result on the Library page, and the live song that already has it."""

    id: str
    title: str
    url: str
    channel: str | None = None
    duration: float | None = None
    thumbnail: str | None = None
    song: Song | None = None

    @property
    def duration_text(self) -> str:
        return format_seconds(self.duration) if self.duration is not None else ""

    @property
    def thumbnail_url(self) -> str:
        parts = urlsplit(self.thumbnail or "")
        ok = parts.scheme == "https" and (parts.hostname or "").endswith(_YOUTUBE_IMAGE_HOSTS)
        return self.thumbnail if ok else ""


def songs_by_youtube_id(*, video_ids) -> dict[str, Song]:
    """The live songs of these YouTube videos, by video id."""
    songs = Song.objects.filter(deleted_at__isnull=True, source=Song.Source.YOUTUBE, source_id__in=list(video_ids))
    return {song.source_id: song for song in songs}


def youtube_search_hits(*, query: str, limit: int = 8) -> list[YoutubeHit]:
    """youtube_search, each result with the live song that already has it (one query)."""
    results = youtube_search(query=query, limit=limit)
    songs = songs_by_youtube_id(video_ids=[result["id"] for result in results])
    fields = {field.name for field in dataclasses.fields(YoutubeHit)} - {"song"}
    return [
        YoutubeHit(**{name: value for name, value in result.items() if name in fields}, song=songs.get(result["id"]))
        for result in results
    ]


def song_count() -> int:
    """The live songs of the library (the unfiltered Library page's count)."""
    return Song.objects.filter(deleted_at__isnull=True).count()
