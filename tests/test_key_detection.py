"""The song's key: the key finder on generated progressions, and the `key` stage.

The material: in all 24 keys, three progressions each (major I–IV–V–I, I–vi–IV–V–I,
I–V–vi–IV–I; minor i–iv–V–i, i–VI–III–VII–i, i–iv–VII–III–V–i), chords of three notes
an octave above middle C's octave with a bass line (root, then fifth) two octaves below,
in three timbres (partials falling as 1/n, as 0.6^n, and an organ's), written as WAV and
read through the adapter's real ffmpeg decoding. A relative major or minor counts as wrong.
"""

import wave

import numpy as np
import pytest

from common.errors import ApplicationError
from songs import keys
from songs import services as song_services
from songs.audio import keyfinder
from songs.models import Song
from songs.pipeline import media, plan
from tests.factories import SongFactory

RATE = 22050
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)  # its V is major: the leading tone
PROGRESSIONS = {
    "major": ((0, 3, 4, 0), (0, 5, 3, 4, 0), (0, 4, 5, 3, 0)),
    "minor": ((0, 3, 4, 0), (0, 5, 2, 6, 0), (0, 3, 6, 2, 4, 0)),
}
TIMBRES = {
    "1/n": [1 / n for n in range(1, 7)],
    "0.6^n": [0.6 ** (n - 1) for n in range(1, 9)],
    "organ": [1, 0.8, 0.1, 0.5, 0.05, 0.2, 0, 0.1],
}


def note(midi: int, seconds: float, partials: list[float], level: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = 440 * 2 ** ((midi - 69) / 12)
    wave_ = sum(level * amplitude * np.sin(2 * np.pi * frequency * n * t + n)
                for n, amplitude in enumerate(partials, 1) if frequency * n < RATE / 2)
    return wave_ * np.minimum(1, t / 0.02) * np.exp(-1.2 * t)  # struck, then fading


def progression(tonic: int, mode: str, which: int, timbre: str) -> np.ndarray:
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    partials = TIMBRES[timbre]
    bars = []
    for degree in PROGRESSIONS[mode][which]:
        steps = HARMONIC_MINOR if mode == "minor" and degree == 4 else scale
        chord = [60 + tonic + steps[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        root = 36 + tonic + steps[degree]
        bar = np.zeros(2 * RATE)
        for beat, bass in enumerate((root, root + 7)):
            start = beat * RATE
            bar[start:start + RATE] += sum(note(n, 1.0, partials, 0.2) for n in chord)
            bar[start:start + RATE] += note(bass, 1.0, partials[:4], 0.5)
        bars.append(bar)
    audio = np.concatenate(bars * 2)
    return audio / np.abs(audio).max() * 0.8


def write_wav(path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((audio * 32767).astype("<i2").tobytes())


def test_it_finds_the_key_of_progressions_in_all_24_keys(tmp_path):
    rows, right = [], 0
    timbres = list(TIMBRES)
    for mode in ("major", "minor"):
        for tonic in range(12):
            for which in range(3):
                timbre = timbres[(tonic + which) % 3]
                path = tmp_path / f"{tonic}-{mode}-{which}.wav"
                write_wav(path, progression(tonic, mode, which, timbre))
                found = keyfinder.detect_key(path)
                expected = keys.key_name(tonic, mode)
                ok = found is not None and (found.tonic, found.mode) == (tonic, mode)
                right += ok
                rows.append((expected, "-".join(map(str, PROGRESSIONS[mode][which])), timbre,
                             found.name if found else "-", found.confidence if found else 0.0, ok))
    print(f"\n{'key':10} {'degrees':12} {'timbre':6} {'found':10} conf.")
    for expected, degrees, timbre, name, confidence, ok in rows:
        print(f"{expected:10} {degrees:12} {timbre:6} {name:10} {confidence:.2f} {'' if ok else 'WRONG'}")
    share = right / len(rows)
    print(f"{right} of {len(rows)} right ({share:.0%})")
    assert share >= 0.90


def test_silence_has_no_key(tmp_path):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros(5 * RATE))
    assert keyfinder.detect_key(path) is None


class StageContext:
    """What the runner hands a stage (songs.pipeline.runner.StageContext), for one song."""

    def __init__(self, song):
        self.song = song

    def is_cancelled(self):
        return False

    def progress(self, percent, message=""):
        pass


@pytest.fixture
def song_in_a_minor():
    song = SongFactory(ready=True, duration=16.0, files={"instrumental": "instrumental.wav"})
    song.folder.mkdir(parents=True)
    write_wav(song.folder / "instrumental.wav", progression(9, "minor", 0, "1/n"))
    return song


@pytest.mark.django_db
def test_the_key_stage_runs_after_separation_and_stores_the_key(song_in_a_minor):
    names = plan.stage_names()
    assert names.index("key") == names.index("separate") + 1
    assert not media.key_done(song_in_a_minor)

    message = media.detect_key(StageContext(song_in_a_minor))

    song = Song.objects.get(pk=song_in_a_minor.pk)
    assert song.key == "A minor" and message.startswith("Key: A minor")
    assert 0 <= song.key_confidence <= 1
    assert media.key_done(song)  # a retry or a later stage skips it


@pytest.mark.django_db
def test_a_key_the_host_set_is_kept(song_in_a_minor):
    song = song_in_a_minor
    song_services.song_update(song=song, data={"key": "f# min"})
    assert (song.key, song.key_confidence, song.locked_fields) == ("F♯ minor", None, ["key"])
    assert media.key_done(song)  # the stage skips it; a reprocess runs it, and it keeps the host's

    assert media.detect_key(StageContext(song)) == "The key was set by hand: kept."

    song.refresh_from_db()
    assert song.key == "F♯ minor"


@pytest.mark.django_db
def test_a_key_that_is_no_key_is_refused(song_in_a_minor):
    with pytest.raises(ApplicationError) as refused:
        song_services.song_update(song=song_in_a_minor, data={"key": "H minor"})
    assert refused.value.status_code == 400 and "not a key" in refused.value.message


@pytest.mark.django_db
def test_the_host_sets_the_key_through_the_api(song_in_a_minor, staff_api):
    url = f"/api/songs/{song_in_a_minor.pk}"
    response = staff_api.patch(url, {"key": "Bb major"}, format="json")
    assert response.status_code == 200
    assert (response.json()["key"], response.json()["key_confidence"]) == ("B♭ major", None)
    assert "key" in response.json()["locked_fields"]

    refused = staff_api.patch(url, {"key": "loud"}, format="json")
    assert refused.status_code == 400 and "not a key" in refused.json()["message"]
    assert Song.objects.get(pk=song_in_a_minor.pk).key == "B♭ major"
