"""factory_boy factories for the rows the tests need: users, songs, rooms, singers, queue entries.

Each makes a valid row with nothing a test has to care about; a test names what matters
to it (`SongFactory(title="Waterloo", ready=True)`). They write rows directly: a test
about what a service does (events, version bumps, the room lock) calls the service.

    UserFactory()                    a user with an account (Bob-like: neither host nor staff)
    UserFactory(host=True)           a host: may open rooms (`is_host`)
    UserFactory(staff=True)          staff: the whole site and the admin (`is_staff`)
    SongFactory()                    an upload, pending (not processed yet), indexed for the search
    SongFactory(ready=True)          processed: ready, three minutes long
    SongFactory(with_stems=True)     ready, with its browser stems as files in its folder
    SongFactory(contents={name: bytes})  those files written into the song's folder
    RoomFactory()                    a room of a new host, with a valid code of its own
    SingerFactory(room=room)         a guest in `room` (`user=` for a singer with an account)
    QueueEntryFactory(singer=singer) a ready song waiting in the singer's room
"""

import factory
from factory.django import DjangoModelFactory, Password

from accounts.models import User
from queue_app.models import CODE_ALPHABET, CODE_LENGTH, QueueEntry, Room, Singer
from songs import search_index
from songs.models import Song

# The browser stems of a separated song: kind → file name in the song's folder.
STEM_FILES = {"instrumental_web": "instrumental.m4a", "vocals_web": "vocals.m4a"}


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = Password("x" * 12)

    class Params:
        host = factory.Trait(is_host=True)
        staff = factory.Trait(is_staff=True)


def write_contents(song: Song, create: bool, contents: dict[str, bytes] | None, **kwargs) -> None:
    """`contents`: {file name: bytes}, written into the song's folder."""
    if not contents:
        return
    song.folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (song.folder / name).write_bytes(data)


def write_stems(song: Song, create: bool, contents: dict[str, bytes] | None, **kwargs) -> None:
    """The stems' files: `contents` (real audio, for a browser that plays them), or a few
    bytes each (enough for a page or an API that only needs them to exist)."""
    write_contents(song, create, contents or {name: f"{kind} of {song}".encode() for kind, name in STEM_FILES.items()})


class SongFactory(DjangoModelFactory):
    class Meta:
        model = Song
        skip_postgeneration_save = True

    title = "Song"
    # An upload: no source_id, so any number of them may share a title.
    source = Song.Source.UPLOAD
    contents = factory.PostGeneration(write_contents)

    class Params:
        ready = factory.Trait(status=Song.Status.READY, duration=180.0)
        with_stems = factory.Trait(ready=True, files=STEM_FILES, contents=factory.PostGeneration(write_stems))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        song = super()._create(model_class, *args, **kwargs)
        # The search texts are derived from the row, as the services keep them: a song made
        # here is found by the search like one imported.
        search_index.song_index(song=song)
        return song


def room_code(n: int) -> str:
    """The n-th room code: CODE_LENGTH letters of CODE_ALPHABET, never the same twice in a run."""
    letters = []
    for _ in range(CODE_LENGTH):
        n, digit = divmod(n, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[digit])
    return "".join(reversed(letters))


class RoomFactory(DjangoModelFactory):
    """A room as `queue_app.services.room_create` makes it, without its random code (which
    could, rarely, be one a test made already) and without a password."""

    class Meta:
        model = Room

    name = "Friday"
    code = factory.Sequence(room_code)
    owner = factory.SubFactory(UserFactory, host=True)
    # No "Up next" pause: a test that starts a song hears it at once (the interlude's own
    # tests set it).
    interlude_seconds = 0


class SingerFactory(DjangoModelFactory):
    class Meta:
        model = Singer

    room = factory.SubFactory(RoomFactory)
    display_name = factory.Sequence(lambda n: f"Singer {n}")


class QueueEntryFactory(DjangoModelFactory):
    class Meta:
        model = QueueEntry

    singer = factory.SubFactory(SingerFactory)
    room = factory.SelfAttribute("singer.room")
    song = factory.SubFactory(SongFactory, ready=True)
