"""The file endpoint: ``/media/songs/<song id>/<name>``, for players and downloads.

Only a name the song has registered in ``Song.files`` is served, so a URL can
never name a path of its own choosing; the resolved path must also lie inside
the song's folder (a symlink planted there does not lead out of it).

Answers are plain text, not JSON or HTML pages: this is a media URL, read by
an <audio> element, which shows nothing of an error body anyway.
"""

import logging

from django.conf import settings
from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.http import require_safe

from songs import files
from songs.audio import hls
from songs.models import Song

logger = logging.getLogger(__name__)


# Pictures that the party pages show beside a song; every other kind is the song's audio
# (the original, its transcodes, the vocal and instrumental stems).
PICTURE_KINDS = ("cover", "cover_thumb")


def can_read_song_files(user, song: Song) -> bool:
    """Who may see that `song` has files at all.

    Signed-in users may read any live song; a soft-deleted song is hidden from
    everyone but staff, who may want to listen before restoring it.
    """
    if not user.is_authenticated:
        return False
    return user.is_staff or not song.is_deleted


def can_read_audio(user) -> bool:
    """Who may play or download a song's audio: the original and the stems are the
    library's whole worth, and anyone can make an account. SONG_AUDIO_ACCESS says:
    "hosts" (the default) for staff and hosts, who run the library and the TVs that
    play it; "accounts" for every signed-in account."""
    if settings.SONG_AUDIO_ACCESS == "accounts":
        return user.is_authenticated
    return user.is_authenticated and (user.is_staff or bool(getattr(user, "can_host", False)))


def _not_found():
    return HttpResponseNotFound("No such file.\n", content_type="text/plain; charset=utf-8")


@require_safe
def song_file(request, song_id, name: str):
    song = Song.objects.filter(pk=song_id).first()
    if song is None or not can_read_song_files(request.user, song):
        if not request.user.is_authenticated:
            # 403 whether or not the song exists: an anonymous visitor learns nothing.
            # A redirect to the login page would be followed by the <audio> element.
            return HttpResponseForbidden("Sign in to play songs.\n", content_type="text/plain; charset=utf-8")
        # A singer asking for a soft-deleted song gets what a missing one gets.
        return _not_found()
    kind = next((kind for kind, file_name in song.files.items() if file_name == name), None)
    if kind is None:
        return _not_found()
    if kind not in PICTURE_KINDS and not can_read_audio(request.user):
        return HttpResponseForbidden(
            "Only the hosts can play or download the songs' audio.\n", content_type="text/plain; charset=utf-8"
        )
    folder = song.folder.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or path == folder:
        logger.warning("Song %s names a file outside its folder: %r", song.pk, name)
        return _not_found()
    try:
        return files.file_response(request, path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        # Registered but gone (a reprocess is replacing it, or the disk was tidied by hand).
        return _not_found()


# What a player is told each stream file is (hls.js and Safari read the playlist's type).
_STREAM_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "audio/mp4", ".m4s": "audio/mp4"}


@require_safe
def song_stream_file(request, song_id, stream: str, name: str):
    """A file of the live stream of a song being separated (songs/streaming.py).

    Only the song's current stream, and only names of the stream's own pattern, are
    served: the URL cannot reach any other file. The same people as the stems may read it.
    """
    song = Song.objects.filter(pk=song_id).first()
    if song is None or not can_read_song_files(request.user, song):
        if not request.user.is_authenticated:
            return HttpResponseForbidden("Sign in to play songs.\n", content_type="text/plain; charset=utf-8")
        return _not_found()
    if not can_read_audio(request.user):
        return HttpResponseForbidden(
            "Only the hosts can play or download the songs' audio.\n", content_type="text/plain; charset=utf-8"
        )
    if not song.stream or stream != song.stream or not hls.FILE_NAME.match(name):
        return _not_found()
    path = song.stream_folder / name
    try:
        return files.file_response(request, path, content_type=_STREAM_TYPES[path.suffix])
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        # Not written yet (a player asked ahead), or the stream of an attempt that was replaced.
        return _not_found()
