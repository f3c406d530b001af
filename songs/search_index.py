"""The search index: what songs/selectors.py searches, kept by the writes of songs.

Every service that writes a song's title, artist, album or lyrics (songs/services.py,
songs/imports.py) calls `song_index`; `song_unindex` goes with a hard delete. Three parts:

- `Song.search_text` and `Song.search_lyrics`: the folded texts (songs/search.py), the
  source of truth; on PostgreSQL a pg_trgm GIN index on each makes `LIKE '%word%'` fast;
- on SQLite, the FTS5 tables `songs_song_fts` (both texts) and `songs_song_fts_meta` (the
  title, artist and album alone), trigram tokenizer (a quoted string matches as a
  substring, through the index), one row per song, its rowid a number drawn from the
  song's id (`fts_rowid`), so a row is found again without a lookup and survives the table
  rebuilds SQLite migrations do to `songs_song` (triggers would not);
- `SearchWord`: every word of the titles, artists and albums, where a query word with a
  typo finds the word it meant.

`index_songs` rebuilds the lot in batches (migration 0005, `manage.py search_index`, the
benchmark); a migration passes its historical models.
"""

from collections.abc import Iterable

from django.db import connection

from songs import search
from songs.models import SearchWord, Song

FTS_TABLE = "songs_song_fts"
# The title, artist and album alone: small rows, quick to sort by length for a common word.
FTS_META_TABLE = "songs_song_fts_meta"
WORD_MAX = 100  # SearchWord.word's length
# The columns the texts are made of.
SOURCE_FIELDS = ("pk", "title", "artist", "album", "lyrics_synced", "lyrics_plain")


def uses_fts() -> bool:
    """Whether the candidates come from the FTS5 table (SQLite) or the columns (PostgreSQL)."""
    return connection.vendor == "sqlite"


def fts_rowid(song_id) -> int:
    """The FTS5 row of a song: 63 bits of its UUID (random bits: no two songs share them)."""
    return song_id.int >> 65


def fts_match(groups: list[list[tuple[str, str]]], *, shortest_first: bool, limit: int) -> list:
    """SQLite: the ids of the songs (UUID hex) whose FTS row matches every group, a group being
    (column, text it contains) pairs any of which will do; the shortest search_text first
    when `shortest_first`; at most `limit`."""
    # Folded text is letters, digits and spaces: quoted, it is one FTS5 string, a substring
    # for the trigram tokenizer.
    expression = " AND ".join(
        "(" + " OR ".join(f'{column} : "{needle}"' for column, needle in group) + ")" for group in groups
    )
    # Only the title, artist and album: the small table, sorted; else the big one, as found.
    metadata_only = all(column == "search_text" for group in groups for column, _ in group)
    table = FTS_META_TABLE if metadata_only else FTS_TABLE
    order = "ORDER BY length(search_text) " if shortest_first else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT song_id FROM {table} WHERE {table} MATCH %s {order}LIMIT %s", [expression, limit])
        return [row[0] for row in cursor.fetchall()]


def song_index(*, song: Song) -> None:
    """Bring the song's search texts (and the FTS row, and the vocabulary) up to date with
    its title, artist, album and lyrics, read again from its row: a write made meanwhile
    by someone else (the caller holds the row lock, or has just created it) is not lost."""
    row = Song.objects.only(*SOURCE_FIELDS).filter(pk=song.pk).first()
    if row is None:
        return
    index_songs([row])
    song.search_text, song.search_lyrics = row.search_text, row.search_lyrics


def song_index_new(*, song: Song) -> None:
    """A song inserted a moment ago with its search texts (search.song_texts): its FTS row
    and its words. A link's song has no text yet (its download names it): nothing to write."""
    if song.search_text or song.search_lyrics:
        index_songs([song], stored=True)


def song_unindex(*, song_id) -> None:
    """Forget a song that is gone for good (its FTS row; the columns went with the row)."""
    if uses_fts():
        with connection.cursor() as cursor:
            for table in (FTS_TABLE, FTS_META_TABLE):
                cursor.execute(f"DELETE FROM {table} WHERE rowid = %s", [fts_rowid(song_id)])


def index_songs(songs: Iterable, *, models=(Song, SearchWord), batch: int = 1000, stored: bool = False) -> int:
    """Index `songs` (Song rows with their title, artist, album and lyrics loaded); returns
    how many. `stored`: their search texts are in their rows already (made with
    search.song_texts before a bulk insert): only the FTS rows and the vocabulary."""
    song_model, word_model = models
    count = 0
    rows = []
    for song in songs:
        if not stored:
            song.search_text, song.search_lyrics = search.song_texts(song)
        rows.append(song)
        if len(rows) >= batch:
            count += _write(rows, song_model, word_model, stored=stored)
            rows = []
    if rows:
        count += _write(rows, song_model, word_model, stored=stored)
    return count


def _write(rows: list, song_model, word_model, *, stored: bool) -> int:
    if not stored:
        song_model.objects.bulk_update(rows, ["search_text", "search_lyrics"])
    if uses_fts():
        with connection.cursor() as cursor:
            for table in (FTS_TABLE, FTS_META_TABLE):
                cursor.executemany(f"DELETE FROM {table} WHERE rowid = %s", [[fts_rowid(row.pk)] for row in rows])
            cursor.executemany(
                f"INSERT INTO {FTS_TABLE} (rowid, song_id, search_text, search_lyrics) VALUES (%s, %s, %s, %s)",
                [[fts_rowid(row.pk), row.pk.hex, row.search_text, row.search_lyrics] for row in rows
                 if row.search_text or row.search_lyrics],
            )
            cursor.executemany(
                f"INSERT INTO {FTS_META_TABLE} (rowid, song_id, search_text) VALUES (%s, %s, %s)",
                [[fts_rowid(row.pk), row.pk.hex, row.search_text] for row in rows if row.search_text],
            )
    words = {word for row in rows for word in row.search_text.split() if search.MIN_SUBSTRING <= len(word) <= WORD_MAX}
    word_model.objects.bulk_create([word_model(word=word) for word in sorted(words)], ignore_conflicts=True)
    return len(rows)


def rebuild(*, models=(Song, SearchWord)) -> int:
    """Index every song again, from scratch on SQLite (the FTS table emptied first)."""
    song_model = models[0]
    if uses_fts():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {FTS_TABLE}")
            cursor.execute(f"DELETE FROM {FTS_META_TABLE}")
    songs = song_model.objects.only(*SOURCE_FIELDS).iterator(chunk_size=1000)
    return index_songs(songs, models=models)
