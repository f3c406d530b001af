"""How long a singer's search takes in a library of 1,000, 10,000 and 100,000 songs.

Runs songs.selectors.song_search_for_singers (the singer page's search: candidates from the
indexes, ranked in Python, the best 30 with their lyrics lines) in this process, on a
database of its own: a fresh SQLite file (the embedded default), or with --database-url a
PostgreSQL database that the bench creates (dropping one of that name first), e.g.

    .venv/bin/python bench/library_search.py
    .venv/bin/python bench/library_search.py --database-url postgres://postgres@127.0.0.1:5432/bench_search

The library is made up but shaped like one: titles, artists and albums of one to five
words from a vocabulary where a few words are very common ("love", "night"), some words
with accents, lyrics for seven songs in ten (a few hundred words each), one song in ten
not ready; plus a few known songs ("Dancing Queen", "Café Lunaire", "Halo" by Beyoncé).
Songs go in with bulk inserts and the same indexing code the services call
(songs.search_index). Then, per size, each query of the mix runs --repeat times after one
warm-up: exact words, the same without accents, and with a typo, both the known songs'
and titles drawn from the library. Prints p50 / p95 / max per kind of query; no asserts.
"""

import argparse
import itertools
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

KNOWN = [
    ("Dancing Queen", "ABBA", "Arrival", "You can dance, you can jive, having the time of your life"),
    ("Dancing in the Dark", "Bruce Springsteen", "Born in the U.S.A.", "I get up in the evening"),
    ("Café Lunaire", "Les Étoiles", "Nuit Blanche", ""),
    ("Halo", "Beyoncé", "I Am... Sasha Fierce", "Remember those walls I built"),
    ("Señorita", "Shawn Mendes", "Shawn Mendes", "I love it when you call me señorita"),
    ("Bohemian Rhapsody", "Queen", "A Night at the Opera", "Is this the real life? Is this just fantasy?"),
    ("Take On Me", "a-ha", "Hunting High and Low", "Talking away, I don't know what I'm to say"),
    ("Déjà Vu", "Olivia Rodrigo", "Sour", "Car rides to Malibu"),
]
FIXED_QUERIES = {
    "exact": ["dancing queen", "abba", "halo", "bohemian rhapsody", "take on me", "queen"],
    "accent-less": ["cafe lunaire", "beyonce", "senorita", "deja vu", "CAFE", "les etoiles"],
    "misspelled": ["dancng", "dancin queen", "bohemain rapsody", "beyonse", "senorta", "take onn me"],
}
SYLLABLES = ("ba be bi bo da de di do ka ke ki ko la le li lo lu ma me mi mo na ne ni no ra re ri ro ru "
             "sa se si so ta te ti to va ve vo za zo an en in on er or ar el al ing ight ove ea ou").split()
COMMON = "love you me the night dance heart baby time life girl fire rain world dream home blue light".split()
ACCENTED = str.maketrans({"e": "é", "a": "á", "o": "ö", "n": "ñ", "u": "ü", "i": "í"})


def make_vocabulary(rng: random.Random, size: int = 8000) -> tuple[list[str], list[float]]:
    words = list(COMMON)
    while len(words) < size:
        word = "".join(rng.choices(SYLLABLES, k=rng.choice((1, 2, 2, 3))))
        if rng.random() < 0.05:  # some words carry accents
            position = rng.randrange(len(word))
            word = word[:position] + word[position].translate(ACCENTED) + word[position + 1:]
        words.append(word)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))  # Zipf
    return words, weights


class Library:
    """Makes the songs, deterministically (seeded)."""

    def __init__(self, seed: int = 16):
        self.rng = random.Random(seed)
        self.vocabulary, self.weights = make_vocabulary(self.rng)
        self.artists = [self._words(self.rng.choice((1, 2, 2, 3))) for _ in range(12_000)]

    def _words(self, count: int) -> str:
        return " ".join(word.capitalize() for word in self.rng.choices(self.vocabulary, cum_weights=self.weights, k=count))

    def _lyrics(self) -> str:
        if self.rng.random() < 0.3:
            return ""
        words = self.rng.choices(self.vocabulary, cum_weights=self.weights, k=self.rng.randint(120, 320))
        return "\n".join(" ".join(words[i:i + 7]) for i in range(0, len(words), 7))

    def songs(self, count: int, start: int):
        from songs import search  # noqa: PLC0415 - Django is set up in main(), after the arguments
        from songs.models import Song  # noqa: PLC0415 - idem

        for n in range(start, start + count):
            if n < len(KNOWN):
                title, artist, album, lyrics = KNOWN[n]
            else:
                title = self._words(self.rng.choice((1, 2, 2, 3, 3, 4, 5)))
                artist = self.rng.choice(self.artists[: max(10, (start + count) // 8)])
                album = self._words(self.rng.choice((1, 2, 3)))
                lyrics = self._lyrics()
            status = Song.Status.READY if self.rng.random() < 0.9 else Song.Status.PROCESSING
            song = Song(
                title=title, artist=artist, album=album, lyrics_plain=lyrics, status=status,
                source=Song.Source.UPLOAD, duration=180.0,
            )
            song.search_text, song.search_lyrics = search.song_texts(song)
            yield song


def typo(word: str, rng: random.Random) -> str:
    """One edit: a letter dropped, changed, or two swapped."""
    at = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "change", "swap"))
    if kind == "drop":
        return word[:at] + word[at + 1:]
    if kind == "change":
        return word[:at] + rng.choice("aeiourstln") + word[at + 1:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2:]


def drawn_queries(rng: random.Random, count: int) -> dict[str, list[str]]:
    """Queries from the library itself: a title's first words, as typed, without its accents,
    and with a typo in its longest word."""
    from songs import search  # noqa: PLC0415 - Django is set up in main()
    from songs.models import Song  # noqa: PLC0415 - idem

    titles = list(Song.objects.order_by("pk").values_list("title", flat=True)[: count * 4])
    queries = {"exact": [], "accent-less": [], "misspelled": []}
    for title in titles:
        words = title.split()[:2]
        if len(queries["exact"]) < count:
            queries["exact"].append(" ".join(words).lower())
        folded = search.fold(" ".join(words))
        if folded != " ".join(words).lower() and len(queries["accent-less"]) < count:
            queries["accent-less"].append(folded)
        longest = max(folded.split(), key=len, default="")
        if len(longest) >= 5 and len(queries["misspelled"]) < count:
            queries["misspelled"].append(folded.replace(longest, typo(longest, rng), 1))
    return queries


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def create_postgres_database(url: str) -> None:
    import psycopg  # noqa: PLC0415 - only for --database-url

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"--database-url needs a database name of letters, digits and _: {name!r}")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL whose database the bench creates (default: SQLite)")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each query per size")
    parser.add_argument("--drawn", type=int, default=10, help="queries drawn from the library, per kind")
    parser.add_argument("--slowest", type=int, default=5, help="list this many slowest queries (by median) per size")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    data_dir = Path(tempfile.mkdtemp(prefix="encore-bench-search-"))
    os.environ.update(DATA_DIR=str(data_dir), LOG_LEVEL="warning", DJANGO_SETTINGS_MODULE="karaoke_site.settings")
    os.environ.pop("DATABASE_URL", None)
    if args.database_url:
        create_postgres_database(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
        # With an external database the settings want a key: this process signs nothing.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

    import django  # noqa: PLC0415 - after the environment the settings read

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415 - after setup
    from django.db import connection  # noqa: PLC0415 - idem

    from songs import search_index, selectors  # noqa: PLC0415 - idem
    from songs.models import Song  # noqa: PLC0415 - idem

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}); load {os.getloadavg()}")
    library = Library()
    made = 0
    for size in sizes:
        started = time.perf_counter()
        while made < size:
            batch = list(library.songs(min(5000, size - made), made))
            for song in batch:
                song.id = uuid.UUID(int=library.rng.getrandbits(128), version=4)
            Song.objects.bulk_create(batch, batch_size=1000)
            search_index.index_songs(batch, stored=True)
            made += len(batch)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE songs_song")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"\n{size:,} songs (made in {time.perf_counter() - started:.0f} s)")

        queries = {kind: list(fixed) for kind, fixed in FIXED_QUERIES.items()}
        for kind, drawn in drawn_queries(random.Random(size), args.drawn).items():
            queries[kind] += drawn
        timings: dict[str, list[float]] = {}
        per_query: dict[tuple[str, str], list[float]] = {}
        for kind, kind_queries in queries.items():
            for query in kind_queries:
                selectors.song_search_for_singers(query=query, limit=30)  # warm-up
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    hits = selectors.song_search_for_singers(query=query, limit=30)
                    timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
                    per_query.setdefault((kind, query), []).append(timings[kind][-1])
                if kind_queries.index(query) < len(FIXED_QUERIES[kind]):
                    best = hits[0].song.title if hits else "(nothing)"
                    print(f"  {kind:12} {query!r:26} → {best!r} ({len(hits)} hits)")
        every = [value for values in timings.values() for value in values]
        print(f"  {'kind':12} {'queries':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for kind, values in [*timings.items(), ("all", every)]:
            count = len(values) // args.repeat
            print(f"  {kind:12} {count:7} {statistics.median(values):8.1f} {percentile(values, 0.95):8.1f} "
                  f"{max(values):8.1f}")
        slowest = sorted(per_query.items(), key=lambda item: statistics.median(item[1]), reverse=True)
        for (kind, query), values in slowest[: args.slowest]:
            print(f"  slow: {kind:12} {query!r:26} median {statistics.median(values):7.1f} ms")
    print(f"\nload {os.getloadavg()}")


if __name__ == "__main__":
    main()
