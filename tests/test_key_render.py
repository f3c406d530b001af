"""A key change you can hear: both stems rendered by the real ffmpeg (Rubber Band), measured.

The render is a job of kind "key" run by the same runner as an import (songs.tasks.run_job),
here in this process (`broker.run`). The pitch is measured by FFT on the decoded output:
a stereo 440 Hz tone at +2 semitones is 493.9 Hz, at −3 370.0 Hz, with the same length.
"""


import numpy as np
import pytest

from jobs import services as job_services
from jobs.models import Job
from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Singer
from songs import keys
from songs import services as song_services
from songs.management.commands.cleanup_media import find_orphans
from songs.models import Song
from songs.pipeline import runner
from tests.factories import STEM_FILES, SongFactory
from tests.helpers import decode_audio, make_audio

# Transactional: the runner's watcher thread has its own connection and must see the rows.
pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 6.0
RATE = 44100


@pytest.fixture(autouse=True)
def fast_heartbeat(settings):
    settings.JOB_HEARTBEAT_INTERVAL = 0.2
    settings.JOB_RETRY_DELAYS = [0.05, 0.1]


@pytest.fixture(scope="module")
def tone() -> bytes:
    """A stereo 440 Hz tone as the pipeline's browser stems are made (AAC in .m4a)."""
    return make_audio(SECONDS, fmt="m4a", frequency=440)


@pytest.fixture
def song(tone) -> Song:
    """A ready song whose two browser stems are the tone."""
    return SongFactory(ready=True, duration=SECONDS, files=dict(STEM_FILES),
                       contents={name: tone for name in STEM_FILES.values()})


def pitch_of(samples: np.ndarray) -> float:
    """The strongest frequency of the middle of the signal (Hann window, parabolic peak)."""
    middle = samples[RATE // 2: -RATE // 2]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak = int(np.argmax(spectrum))
    left, centre, right = np.log(spectrum[peak - 1: peak + 2])
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return (peak + offset) * RATE / len(middle)


def render(broker, song: Song, semitones: int) -> Job:
    job = keys.key_render_request(song=song, semitones=semitones)
    assert job is not None and job.kind == Job.Kind.KEY and job.params == {"semitones": semitones}
    return broker.run(job)


@pytest.mark.parametrize(("semitones", "expected"), [(2, 493.88), (-3, 369.99)])
def test_it_shifts_both_stems_to_the_pitch_asked_and_keeps_their_length(broker, song, semitones, expected):
    original = decode_audio(song.file_path("instrumental_web"), channels=1, rate=RATE)[0]
    assert pitch_of(original) == pytest.approx(440.0, rel=0.005)

    job = render(broker, song, semitones)

    assert job.status == Job.Status.COMPLETED, job.error_message
    song.refresh_from_db()
    assert song.has_key_render(semitones)
    for stem in Song.KEY_STEMS:
        kind = Song.key_kind(stem, semitones)
        assert song.files[kind] == f"{stem}.key{semitones:+d}.m4a"
        shifted = decode_audio(song.file_path(kind), channels=1, rate=RATE)[0]
        assert pitch_of(shifted) == pytest.approx(expected, rel=0.005), stem
        assert abs(len(shifted) - len(original)) / RATE <= 0.020, stem
    # Nothing of the render is left behind but its two files; the song stays as it was.
    assert sorted(p.name for p in song.folder.iterdir()) == sorted(
        [*STEM_FILES.values(), *(Song.key_file_name(stem, semitones) for stem in Song.KEY_STEMS)]
    )
    assert song.status == Song.Status.READY


def test_a_shift_is_rendered_once_for_every_entry_and_room(broker, song, carol):
    rooms = [services.room_create(owner=carol, name=name) for name in ("Friday", "Saturday")]
    singers = [services.singer_join(room=room, display_name=name)[0] for room, name in zip(rooms, ("Ann", "Ben"), strict=True)]

    def add(singer: Singer, semitones: int):
        return services.queue_add(room=singer.room, actor=actor_for(singer.room, token=singer.token),
                                  song=song, key_shift=semitones)

    add(singers[0], 2)
    add(singers[1], 2)  # another room, the same shift: the same job
    renders = Job.objects.filter(kind=Job.Kind.KEY)
    assert renders.count() == 1
    broker.run(renders.get())
    assert renders.get().status == Job.Status.COMPLETED
    third = services.singer_join(room=rooms[0], display_name="Cleo")[0]
    entry = add(third, 2)

    assert renders.count() == 1 and broker.tasks == []  # asked for nothing new
    song.refresh_from_db()
    assert entry.song.has_key_render(2)


def test_a_failed_render_is_a_clear_job_error_and_the_song_plays_on(broker, song, carol):
    (song.folder / STEM_FILES["vocals_web"]).write_bytes(b"not audio at all")
    job = render(broker, song, 2)

    assert job.status == Job.Status.FAILED
    assert job.error_code == "key_change_failed"
    assert "vocals.m4a" in job.error_message and "+2" in job.error_message
    song.refresh_from_db()
    assert song.status == Song.Status.READY and song.error == ""
    assert not song.has_key_render(2)
    assert not [p.name for p in song.folder.iterdir() if p.name.endswith(".part")]
    # A room redrawn for the song does not ask for it again; a singer choosing it does.
    assert keys.key_render_request(song=song, semitones=2, again=False) is None
    assert keys.key_render_request(song=song, semitones=2) is not None


def test_the_renders_go_with_a_new_separation_and_with_the_song(broker, song):
    render(broker, song, 2)
    song.refresh_from_db()
    rendered = [song.file_path(Song.key_kind(stem, 2)) for stem in Song.KEY_STEMS]
    assert all(path.is_file() for path in rendered)

    song_services.song_key_renders_drop(song=song)  # what the separate stage does with new stems

    song.refresh_from_db()
    assert not song.has_key_render(2) and song.has_key_render(0)
    assert not any(path.exists() for path in rendered)

    render(broker, song, -1)
    folder = song.folder
    song_services.song_hard_delete(song=Song.objects.get(pk=song.pk))
    assert not folder.exists()


def test_cleanup_media_knows_the_renders(broker, song, settings):
    render(broker, song, 2)
    song.refresh_from_db()
    stray = song.folder / Song.key_file_name("vocals_web", 5)  # a render nothing registers any more
    stray.write_bytes(b"old")
    later = stray.stat().st_mtime + 7200

    orphans = {orphan.path.name: orphan.reason for orphan in find_orphans(settings.MEDIA_ROOT, now=later)}

    assert orphans == {stray.name: "a key change no longer registered"}


def test_stems_replaced_during_a_render_make_it_stale(broker, song, tone, monkeypatch):
    """A reprocess separating the song again while a render runs: the render is thrown away
    and made again from the new stems (a transient error, retried)."""
    calls = []
    real = song_services.song_key_render_install

    def install(**kwargs):
        calls.append(1)
        if len(calls) == 1:  # the stems change under the first attempt
            (song.folder / STEM_FILES["instrumental_web"]).write_bytes(tone + b"")
            path = song.folder / STEM_FILES["instrumental_web"]
            path.touch()
        return real(**kwargs)

    monkeypatch.setattr(song_services, "song_key_render_install", install)
    job = render(broker, song, 3)

    assert job.status == Job.Status.COMPLETED, job.error_message
    assert len(calls) == 2
    assert job.attempts == 1


def test_a_render_does_not_remove_what_an_import_writes_nor_the_reverse(song):
    folder = song.folder
    import_part = folder / ".audio.flac.1a2b3c4d.part"
    render_two = folder / ".vocals_web.key+2.m4a.1a2b3c4d.part"
    render_three = folder / ".vocals_web.key+3.m4a.1a2b3c4d.part"
    for path in (import_part, render_two, render_three):
        path.write_bytes(b"x")

    runner.remove_leftovers(folder, which=".*.key+2.m4a.*.part")
    assert not render_two.exists() and import_part.exists() and render_three.exists()

    runner.remove_leftovers(folder)
    assert not import_part.exists() and render_three.exists()


def test_a_key_change_and_an_import_of_the_song_may_run_together(song, staff_user):
    render_job = keys.key_render_request(song=song, semitones=2)
    reprocess = job_services.job_create(song=song, stage="separate", cluster="separation",
                                        kind=Job.Kind.REPROCESS, start_stage="separate")
    assert {render_job.status, reprocess.status} <= set(Job.ACTIVE)
    # The same shift twice is one job.
    assert keys.key_render_request(song=song, semitones=2) == render_job
