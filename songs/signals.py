"""What the songs app tells the layers above it (queue_app), without importing them.

Sent by songs/services.py inside the transaction of the write:
- `song_changed(song, deleting)`: something a page shows changed (title, artist,
  cover, lyrics, state, soft delete or restore). `deleting=True` is sent right
  before a hard delete takes the song's rows, so a receiver can still find where
  the song is shown. `became_playable=True`: it could not be sung before this change
  and can now (ready, restored, or separated far enough ahead: songs/streaming.py).
- `song_merged(song, into)`: `song` is now a hidden duplicate of `into`; what
  pointed at `song` should point at `into`.
"""

from django.dispatch import Signal

song_changed = Signal()
song_merged = Signal()
