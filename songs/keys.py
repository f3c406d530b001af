"""A song in another key: the names of keys, and asking for a song's stems at a shift.

A singer's key change is rendered once per (song, semitones) by a job of kind "key" on
the default cluster (songs/pipeline/plan.render_stages), and its files are shared by
every entry and room that asks for the same shift (Song.has_key_render). The rooms ask
(queue_app) when an entry is queued or its key changes, and again when a song becomes
ready or its stems are separated again.
"""

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from common.errors import ApplicationError
from jobs import services as job_services
from jobs.models import Job
from songs.models import Song

RENDER_STAGE = "render_key"

# --- key names --------------------------------------------------------------------------

# One spelling per pitch class and mode, the one a key signature uses (fewest accidentals;
# F♯ rather than G♭).
_MAJOR = ("C", "D♭", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
_MINOR = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "G♯", "A", "B♭", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"\s*([A-Ga-g])\s*([#♯b♭]?)\s*(major|minor|maj|min|m)?\s*", re.IGNORECASE)
MODES = ("major", "minor")


def key_name(tonic: int, mode: str) -> str:
    """(9, "minor") → "A minor"."""
    names = _MAJOR if mode == "major" else _MINOR
    return f"{names[tonic % 12]} {mode}"


def key_parse(text: str) -> tuple[int, str] | None:
    """"A minor", "F# major", "Bbm", "c" → (pitch class, mode); None when it is no key."""
    match = _KEY_RE.fullmatch(text or "")
    if match is None:
        return None
    letter, accidental, mode = match.groups()
    tonic = (_LETTERS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)) % 12
    # "Am" is A minor; "AM" (a capital M alone) reads as major, as chord symbols write it.
    minor = (mode or "").lower() in ("minor", "min") or mode == "m"
    return tonic, "minor" if minor else "major"


def key_normalise(text: str) -> str:
    """A host's typing ("f# min") as the library writes keys ("F♯ minor"); "" stays "".
    ApplicationError for anything that is not a key."""
    if not (text or "").strip():
        return ""
    parsed = key_parse(text)
    if parsed is None:
        raise ApplicationError(
            f"{text!r} is not a key; write it like “A minor” or “F# major”.", extra={"fields": {"key": ["not a key"]}}
        )
    return key_name(*parsed)


def key_shifted(key: str, semitones: int) -> str:
    """The key a song is sung in after a shift: ("A minor", +2) → "B minor"; "" when unknown."""
    parsed = key_parse(key) if key else None
    if parsed is None:
        return ""
    tonic, mode = parsed
    return key_name(tonic + semitones, mode)


def key_shift_label(semitones: int) -> str:
    """+2 → "+2", -3 → "−3" (a real minus), 0 → "0"."""
    return f"+{semitones}" if semitones > 0 else f"−{-semitones}" if semitones < 0 else "0"


def key_shift_check(value) -> int:
    """A key shift as the party takes it: a whole number of semitones within an octave."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > Song.KEY_SHIFT_MAX:
        raise ApplicationError(
            f"key_shift must be a whole number of semitones from -{Song.KEY_SHIFT_MAX} to {Song.KEY_SHIFT_MAX}.",
            extra={"fields": {"key_shift": ["out of range"]}, "key_shift": str(value)[:20]},
        )
    return value


# --- renders ---------------------------------------------------------------------------


def _renders(song_id, semitones: int):
    return Job.objects.filter(song_id=song_id, kind=Job.Kind.KEY, params={"semitones": semitones})


def key_render_possible(song: Song) -> bool:
    """The song is ready, with its browser stems. (A reprocess may be separating it again
    meanwhile: a render of the old stems is then dropped, as stale or by the separation,
    and asked for again when the song is announced ready.)"""
    return song.deleted_at is None and song.status == Song.Status.READY and song.has_key_render(0)


def key_render_request(*, song: Song, semitones: int, user=None, again: bool = True) -> Job | None:
    """Ask for `song`'s stems at `semitones`: the job that makes them, or None when there is
    nothing to do now (no shift, rendered already, or not possible yet: a song still being
    prepared, whose end announces the song and brings the rooms back here).

    `again=False` (a room redrawn for any change of the song) does not ask again for a
    shift whose last render failed since the stems were made; a singer choosing the key
    (`again=True`) does, and so does the host's Retry on the Jobs page.
    """
    if not semitones or song.has_key_render(semitones) or not key_render_possible(song):
        return None
    # The caller's row may be older than a render that finished meanwhile.
    song.files = Song.objects.filter(pk=song.pk).values_list("files", flat=True).first() or {}
    if song.has_key_render(semitones):
        return None
    renders = _renders(song.pk, semitones)
    active = renders.filter(status__in=Job.ACTIVE).first()
    if active is not None:
        return active
    if not again:
        last = renders.order_by("-created_at").first()
        stems_made = (
            song.jobs.filter(kind__in=Job.EXCLUSIVE_KINDS, status=Job.Status.COMPLETED)
            .order_by("-finished_at").values_list("finished_at", flat=True).first()
        )
        if last is not None and last.status in (Job.Status.FAILED, Job.Status.CANCELLED) and (
            stems_made is None or last.created_at > stems_made
        ):
            return None
    try:
        with transaction.atomic():
            return job_services.job_create(
                song=song, stage=RENDER_STAGE, cluster=settings.DEFAULT_CLUSTER, user=user,
                kind=Job.Kind.KEY, params={"semitones": semitones},
            )
    except IntegrityError:  # another request asked for the same shift at the same moment
        return renders.filter(status__in=Job.ACTIVE).first()


def key_renders_failed(pairs) -> set[tuple]:
    """Of (song id, semitones) pairs, those whose last render failed or was cancelled (and
    none is active): the room shows "key change failed: original key". One query."""
    pairs = {(song_id, semitones) for song_id, semitones in pairs if semitones}
    if not pairs:
        return set()
    latest: dict[tuple, str] = {}
    rows = (
        Job.objects.filter(kind=Job.Kind.KEY, song_id__in={song_id for song_id, _ in pairs})
        .order_by("created_at").values_list("song_id", "params", "status")
    )
    for song_id, params, status in rows:
        latest[(song_id, (params or {}).get("semitones"))] = status
    return {pair for pair in pairs if latest.get(pair) in (Job.Status.FAILED, Job.Status.CANCELLED)}
