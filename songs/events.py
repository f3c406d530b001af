"""Every event the songs app publishes, and the only place it calls group_send.

Sent after commit to the `library` group (the Library page and API clients).
"""

from common.events import publish

LIBRARY_GROUP = "library"


def _song_payload(song) -> dict:
    return {
        "id": str(song.pk),
        "title": song.title,
        "artist": song.artist,
        "status": song.status,
        "key": song.key or None,
        "deleted": song.deleted_at is not None,
    }


def song_changed(song) -> None:
    publish(LIBRARY_GROUP, {"type": "song.changed", "song": _song_payload(song)})


def song_deleted(song_id) -> None:
    publish(LIBRARY_GROUP, {"type": "song.deleted", "song": {"id": str(song_id)}})
