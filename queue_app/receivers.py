"""The rooms' answers to the signals of the songs app: every room where a changed song
waits or plays is drawn again (its "processing" badge, title, cover and lyrics, who is
up next), and a merged duplicate's entries follow the song that was kept."""

from django.db import transaction

from queue_app import services
from songs.signals import song_changed, song_merged


def _song_changed(sender, *, song, deleting: bool = False, **kwargs) -> None:
    if deleting:
        # The delete is about to take the entries: read the rooms now, redraw once it is done.
        rooms = services.rooms_with_song(song_id=song.pk)
        if rooms:
            transaction.on_commit(lambda: services.rooms_song_changed(song_id=song.pk, room_ids=rooms))
        return
    services.rooms_song_changed(song_id=song.pk)


def _song_merged(sender, *, song, into, **kwargs) -> None:
    services.queue_entries_move_song(from_song=song, to_song=into)


def connect() -> None:
    song_changed.connect(_song_changed, dispatch_uid="queue_app.song_changed")
    song_merged.connect(_song_merged, dispatch_uid="queue_app.song_merged")
