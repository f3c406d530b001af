"""Links imported with a user name and password keep neither (songs.sources.ytdlp.normalise_url
now drops them before storing; this cleans the songs imported before)."""

from urllib.parse import urlsplit, urlunsplit

from django.db import migrations


def _without_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def strip_credentials(apps, schema_editor):
    Song = apps.get_model("songs", "Song")
    for song in Song.objects.filter(source_url__contains="@").only("pk", "source", "source_id", "source_url", "deleted_at"):
        source_url = _without_credentials(song.source_url)
        source_id = _without_credentials(song.source_id) if song.source_id.startswith(("http://", "https://")) else song.source_id
        if source_url == song.source_url and source_id == song.source_id:
            continue
        taken = Song.objects.filter(source=song.source, source_id=source_id, deleted_at__isnull=True).exclude(pk=song.pk)
        if song.deleted_at is None and source_id != song.source_id and taken.exists():
            # The same link without its password is another live song already: this one
            # keeps a key of its own (a fragment, which no normalised link has).
            source_id = f"{source_id}#{song.pk}"
        Song.objects.filter(pk=song.pk).update(source_url=source_url, source_id=source_id)


class Migration(migrations.Migration):

    dependencies = [
        ("songs", "0002_metadata_and_lyrics"),
    ]

    operations = [
        migrations.RunPython(strip_credentials, migrations.RunPython.noop),
    ]
