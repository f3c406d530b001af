"""The file endpoint: ``/media/songs/<song id>/<name>``, for players and downloads.

Only a name the song has registered in ``Song.files`` is served, so a URL can
never name a path of its own choosing; the resolved path must also lie inside
the song's folder (a symlink planted there does not lead out of it).

Answers are plain text, not JSON or HTML pages: this is a media URL, read by
an <audio> element, which shows nothing of an error body anyway.
"""

import logging

from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.http import require_safe

from songs import files
from songs.models import Song

logger = logging.getLogger(__name__)


def can_read_song_files(user, song: Song) -> bool:
    """Who may play or download the files of `song`.

    Signed-in users may read any live song; a soft-deleted song is hidden from
    everyone but staff, who may want to listen before restoring it.
    """
    if not user.is_authenticated:
        return False
    return user.is_staff or not song.is_deleted


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
    if name not in song.files.values():
        return _not_found()
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
