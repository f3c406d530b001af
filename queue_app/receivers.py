"""The rooms' answers to the signals of the layers below: every room where a changed song
waits or plays is drawn again (its "processing" badge, title, cover and lyrics, who is
up next), a merged duplicate's entries follow the song that was kept, and the singers who
requested a song follow its import (progress, ready, failed)."""

from django.db import transaction
from django.db.models.signals import pre_delete

from jobs.signals import job_changed
from queue_app import requests, services
from queue_app.models import QueueEntry, Room
from songs.signals import song_changed, song_merged


def _song_changed(sender, *, song, deleting: bool = False, became_playable: bool = False, **kwargs) -> None:
    if deleting:
        # Before the delete: its waiting entries leave the queues (its history stays);
        # the rooms are redrawn once the delete is committed.
        rooms = services.queue_entries_song_deleting(song_id=song.pk)
        if rooms:
            transaction.on_commit(lambda: services.rooms_song_changed(song_id=song.pk, room_ids=rooms))
        return
    requests.requests_follow_song(song=song)
    # Ready now, or separated again: the key changes its entries wait for.
    services.queue_renders_request(song=song)
    services.rooms_song_changed(song_id=song.pk, start_if_next=became_playable)


def _job_changed(sender, *, job, **kwargs) -> None:
    requests.requests_job_progress(song_id=job.song_id)


def _song_merged(sender, *, song, into, **kwargs) -> None:
    services.queue_entries_move_song(from_song=song, to_song=into)
    services.queue_renders_request(song=into)


def _room_deleting(sender, *, instance, **kwargs) -> None:
    # A deleted room's history stays (the entries' room link goes null, its name stays);
    # what was still waiting or playing in it goes with it.
    QueueEntry.objects.filter(room=instance, status__in=[QueueEntry.Status.WAITING, QueueEntry.Status.PLAYING]).delete()


def connect() -> None:
    # A delete of the app's own model (the admin, or its owner's account deleted).
    pre_delete.connect(_room_deleting, sender=Room, dispatch_uid="queue_app.room_deleting")
    song_changed.connect(_song_changed, dispatch_uid="queue_app.song_changed")
    song_merged.connect(_song_merged, dispatch_uid="queue_app.song_merged")
    job_changed.connect(_job_changed, dispatch_uid="queue_app.job_changed")
