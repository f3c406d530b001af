"""Search that forgives: the folded search texts of every song, their indexes and the
vocabulary of typo corrections (songs/search.py, songs/search_index.py).

The indexes depend on the database, so they are created here by hand rather than in the
model's Meta: on PostgreSQL the pg_trgm extension (trusted since PostgreSQL 13: the
database's owner may create it) and a trigram GIN index on each text; on SQLite two FTS5
tables with the trigram tokenizer (both texts; the title, artist and album alone, whose
small rows are quick to sort), which songs/search_index.py keeps row by row.
"""

from django.db import migrations, models

FTS_TABLE = "songs_song_fts"
FTS_META_TABLE = "songs_song_fts_meta"
TRIGRAM_INDEXES = ("songs_song_search_text_trgm", "songs_song_search_lyrics_trgm")


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, column in zip(TRIGRAM_INDEXES, ("search_text", "search_lyrics"), strict=True):
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON songs_song USING gin ({column} gin_trgm_ops)")
    elif connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
            "USING fts5(song_id UNINDEXED, search_text, search_lyrics, tokenize='trigram')"
        )
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_META_TABLE} USING fts5(song_id UNINDEXED, search_text, tokenize='trigram')"
        )


def drop_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for name in TRIGRAM_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    elif connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_META_TABLE}")


def fill(apps, schema_editor):
    # The current code, not a copy: what it writes is what the search reads today.
    from songs import search_index  # noqa: PLC0415 - a migration imports its helpers when it runs

    search_index.rebuild(models=(apps.get_model("songs", "Song"), apps.get_model("songs", "SearchWord")))


class Migration(migrations.Migration):

    dependencies = [
        ("songs", "0004_song_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="song",
            name="search_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="song",
            name="search_lyrics",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                ("word", models.CharField(max_length=100, primary_key=True, serialize=False)),
            ],
        ),
        migrations.RunPython(create_indexes, drop_indexes),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
