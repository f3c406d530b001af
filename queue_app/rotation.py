"""Who sings next: the order of a room's waiting songs, and when each will start.

Pure functions over frozen dataclasses. The services build ``Singer`` and ``Entry`` from
the ORM rows, call :func:`plan` (or :func:`order`), and write back what the pin helpers
return. Nothing here touches Django, so it can be tested exhaustively. Import the module,
not its names (``rotation.Singer`` is not ``models.Singer``).

Modes
-----
``fifo``: waiting entries play by ``(added_at, id)``.

``fair`` (the default): a rotation in join order, one song per singer per round.

Rounds, precisely
-----------------
Singers are numbered by join order, ``j = 0, 1, 2, ...`` sorted by ``(joined_at, id)``.
A *slot* is a pair ``(round, j)``. Slots are compared as pairs, so the rotation visits
round 0's singers in join order, then round 1's, and so on; slot ``(r, j)`` belongs to
singer ``j``. Every singer with a waiting song holds one *turn*: the slot at which they
sing next. The *cursor* is the highest slot at which anyone has sung (the playing song
included); before the first song there is none. **The current round is the cursor's
round.**

The room's history is replayed in time order (``added_at`` for adds; ``started_at``, else
``finished_at``, for an entry leaving the waiting list; adds first on a tie), with two
rules:

1. When a singer goes from no waiting song to one (joining and adding, or coming back
   from a break), their turn becomes their first slot after the cursor, unless they
   already hold a later one.
2. When one of their songs starts and is not skipped, they use their turn: the cursor
   moves up to it if it is higher, and their next turn is their slot in the following
   round, or their first slot after the cursor if that is later.

What follows from that:

- Everyone with a waiting song sings once per round, in join order.
- A late joiner has the highest ``j``, so their first slot after the cursor is in the
  current round, after everyone still to sing in it: the end of the current round.
- Someone back from a break takes their usual place in the rotation; the rounds they sat
  out are not owed to them (no banking).
- The playing singer has used their turn, so they count as having sung this round; a
  singer who has sung more holds a later turn and waits.
- A skipped song is no turn: replay treats it as never played.
- A singer whose next song is still processing keeps their turn (the player passes over
  it, see below); when it is ready they sing at once, then rule 2 puts them back after
  the cursor, so waiting for a download never earns extra songs.
- A removed entry is gone from the history. Removing your only waiting song therefore
  gives up your place like leaving the line would; changing the song of an entry in
  place (PATCH) keeps it.
- Pass every singer who ever joined the room, those who left included: their past songs
  keep the cursor where it was (leave them out and a returner may slip in ahead of
  someone waiting). Someone who left has no waiting songs, so takes no more turns.
  Entries of singers not passed are ignored, except a waiting one, which is an error.

Laying out the waiting list
---------------------------
From the state at the end of the replay, the rotation is played forward: at each
position, a host-pinned entry whose ``pinned_position`` has been reached takes it;
otherwise the singer holding the lowest turn sings their earliest-added unpinned song
(so a singer's own songs keep their order), using the turn by rule 2. A pinned song
uses its singer's turn like any other song, so being pulled forward is not a free extra.
Every entry is laid out as if ready; the player takes the first ready one that is not
behind its own singer's processing song (:func:`next_up`), so a song still processing
keeps its place while other singers pass it, and its singer's later songs wait behind it.

Host overrides
--------------
``pinned_position`` is an index into the waiting list (0: play next). Pinned entries sit
exactly there; if two share an index the earlier-added goes first, and pins past the end
go last. The services keep pins unique and in step with the list by writing what
:func:`pins_after_move` and :func:`pins_after_leave` return; unpinning is setting it to
None (pinned entries keep their indices).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, Protocol

Mode = Literal["fair", "fifo"]
Status = Literal["waiting", "playing", "done", "skipped"]

MODES: tuple[Mode, ...] = ("fair", "fifo")
DEFAULT_DURATION = 240.0  # seconds; a typical pop song, for songs not yet measured


@dataclass(frozen=True)
class Singer:
    id: int
    joined_at: datetime


@dataclass(frozen=True)
class Entry:
    id: int
    singer_id: int
    status: Status
    added_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None  # seconds; None until the song is measured
    ready: bool = True
    pinned_position: int | None = None


@dataclass(frozen=True)
class Planned:
    entry: Entry
    position: int
    starts_at: datetime
    wait_seconds: float

    @property
    def wait_minutes(self) -> int:
        """For "you're up in about 12 min"; 0 means next or nearly."""
        return round(self.wait_seconds / 60)


class Slot(NamedTuple):
    round: int
    join_index: int


# --- the whole answer -------------------------------------------------------------------


def plan(
    *,
    mode: Mode,
    singers: Sequence[Singer],
    entries: Sequence[Entry],
    now: datetime,
    elapsed: float = 0.0,
    default_duration: float = DEFAULT_DURATION,
    ordered: Sequence[Entry] | None = None,
) -> list[Planned]:
    """The waiting entries in the order they will play, each with its estimated start.

    ``elapsed`` is how far into the playing entry the player is, in seconds. ``ordered``:
    what :func:`order` answered for these, when the caller has it already.
    """
    if ordered is None:
        ordered = order(mode=mode, singers=singers, entries=entries)
    remaining = remaining_seconds(current_entry(entries), elapsed, default_duration)
    return estimate_starts(ordered, now, remaining, default_duration)


def order(*, mode: Mode, singers: Sequence[Singer], entries: Sequence[Entry]) -> list[Entry]:
    """The waiting entries in the order they will play (not-ready ones in their place)."""
    if mode not in MODES:
        raise ValueError(f"unknown rotation mode {mode!r}; expected one of {MODES}")
    current_entry(entries)  # validates: at most one playing
    waiting = [e for e in entries if e.status == "waiting"]
    if mode == "fifo":
        return _lay_out(waiting, _Fifo(waiting))
    return _lay_out(waiting, _replay(singers, entries, waiting))


def next_up(order: Sequence[Entry]) -> Entry | None:
    """Who's next: the first ready entry that isn't behind its singer's own processing song.

    A singer's later song does not overtake their earlier one (it would also take the
    earlier one's turn and push it back); a host-pinned entry is the host's call and is
    never held back.
    """
    processing: set[int] = set()  # singers whose next own song is still processing
    for entry in order:
        unpinned = entry.pinned_position is None
        if entry.ready and not (unpinned and entry.singer_id in processing):
            return entry
        if unpinned and not entry.ready:
            processing.add(entry.singer_id)
    return None


def current_entry(entries: Iterable[Entry]) -> Entry | None:
    playing = [e for e in entries if e.status == "playing"]
    if len(playing) > 1:
        ids = ", ".join(str(e.id) for e in playing)
        raise ValueError(f"only one entry can be playing, found entries {ids}")
    return playing[0] if playing else None


# --- estimates --------------------------------------------------------------------------


def remaining_seconds(current: Entry | None, elapsed: float, default_duration: float) -> float:
    if current is None:
        return 0.0
    return max(0.0, duration_of(current, default_duration) - max(0.0, elapsed))


def estimate_starts(
    order: Sequence[Entry], now: datetime, current_remaining: float, default_duration: float
) -> list[Planned]:
    """Each entry starts when everything ahead of it (the current song included) is over."""
    planned: list[Planned] = []
    wait = max(0.0, current_remaining)
    for position, entry in enumerate(order):
        planned.append(Planned(entry, position, now + timedelta(seconds=wait), wait))
        wait += duration_of(entry, default_duration)
    return planned


def duration_of(entry: Entry, default_duration: float) -> float:
    # A zero or negative duration is a probe that failed, not a real song.
    if entry.duration is None or entry.duration <= 0:
        return default_duration
    return entry.duration


# --- the per-singer limit ---------------------------------------------------------------


def waiting_count(singer_id: int, entries: Iterable[Entry]) -> int:
    return sum(1 for e in entries if e.singer_id == singer_id and e.status == "waiting")


def can_add(singer_id: int, entries: Iterable[Entry], max_waiting: int | None) -> bool:
    """Whether the singer may queue one more song; ``None`` means no limit.

    Songs still processing count: they are in the queue, just not playable yet.
    """
    if max_waiting is None:
        return True
    if max_waiting < 1:
        raise ValueError(f"max_waiting must be None or at least 1, not {max_waiting}")
    return waiting_count(singer_id, entries) < max_waiting


# --- host overrides ---------------------------------------------------------------------


def pins_after_move(order: Sequence[Entry], entry_id: int, slot: int) -> dict[int, int]:
    """Pins after the host moves an entry to ``slot`` (0: play next).

    Returns the ``pinned_position`` of every pinned entry afterwards (the moved one
    included); all others are unpinned. Pinned entries are re-indexed to where they sit
    once the move is made, so the list the host sees is exactly the one they dragged.
    """
    moved = _find(order, entry_id)
    rest = [e for e in order if e.id != entry_id]
    rest.insert(min(max(slot, 0), len(rest)), moved)
    return {e.id: i for i, e in enumerate(rest) if e.id == entry_id or e.pinned_position is not None}


def pins_after_leave(order: Sequence[Entry], entry_ids: Collection[int]) -> dict[int, int]:
    """Pins after entries leave the waiting list (start playing, skipped, removed).

    Pinned entries behind them move up with the list, so a pin counts down to the front
    instead of holding its index forever.
    """
    rest = [e for e in order if e.id not in entry_ids]
    return {e.id: i for i, e in enumerate(rest) if e.pinned_position is not None}


def _find(order: Sequence[Entry], entry_id: int) -> Entry:
    for entry in order:
        if entry.id == entry_id:
            return entry
    raise ValueError(f"entry {entry_id} is not waiting in this queue")


# --- laying out -------------------------------------------------------------------------


class _Chooser(Protocol):
    def take(self) -> Entry:
        """Pick the next unpinned entry and record its turn."""
        ...

    def played(self, entry: Entry) -> None:
        """Record the turn a pinned entry uses."""
        ...


def _lay_out(waiting: list[Entry], chooser: _Chooser) -> list[Entry]:
    pinned = sorted((e for e in waiting if e.pinned_position is not None), key=_pin_key)
    unpinned_left = len(waiting) - len(pinned)
    laid: list[Entry] = []
    for position in range(len(waiting)):
        pin_due = bool(pinned) and (pinned[0].pinned_position or 0) <= position
        if pin_due or unpinned_left == 0:
            entry = pinned.pop(0)
            chooser.played(entry)
        else:
            entry = chooser.take()
            unpinned_left -= 1
        laid.append(entry)
    return laid


def _pin_key(entry: Entry) -> tuple[int, datetime, int]:
    return (entry.pinned_position or 0, entry.added_at, entry.id)


def _added_key(entry: Entry) -> tuple[datetime, int]:
    return (entry.added_at, entry.id)


class _Fifo:
    def __init__(self, waiting: Iterable[Entry]) -> None:
        self._queue = deque(sorted((e for e in waiting if e.pinned_position is None), key=_added_key))

    def take(self) -> Entry:
        return self._queue.popleft()

    def played(self, entry: Entry) -> None:
        pass


# --- fair: replay then play forward -----------------------------------------------------


class _Rotation:
    """Turns and cursor, mutated by the replay and then by laying out the future."""

    def __init__(self, join_index: dict[int, int]) -> None:
        self.join_index = join_index
        self.turns: dict[int, Slot] = {}
        self.cursor: Slot | None = None
        self._queues: dict[int, deque[Entry]] = {}

    def first_slot_after_cursor(self, singer_id: int) -> Slot:
        j = self.join_index[singer_id]
        if self.cursor is None:
            return Slot(0, j)
        if j > self.cursor.join_index:
            return Slot(self.cursor.round, j)
        return Slot(self.cursor.round + 1, j)

    def activate(self, singer_id: int) -> None:
        fresh = self.first_slot_after_cursor(singer_id)
        held = self.turns.get(singer_id)
        self.turns[singer_id] = fresh if held is None else max(held, fresh)

    def use_turn(self, singer_id: int) -> None:
        used = self.turns.get(singer_id) or self.first_slot_after_cursor(singer_id)
        self.cursor = used if self.cursor is None else max(self.cursor, used)
        following = Slot(used.round + 1, used.join_index)
        self.turns[singer_id] = max(following, self.first_slot_after_cursor(singer_id))

    def queue(self, waiting: Iterable[Entry]) -> None:
        for entry in sorted((e for e in waiting if e.pinned_position is None), key=_added_key):
            self._queues.setdefault(entry.singer_id, deque()).append(entry)

    def take(self) -> Entry:
        singer_id = min((s for s, q in self._queues.items() if q), key=self.turns.__getitem__)
        self.use_turn(singer_id)
        return self._queues[singer_id].popleft()

    def played(self, entry: Entry) -> None:
        self.use_turn(entry.singer_id)


class _Event(NamedTuple):
    at: datetime
    kind: int  # _ADD sorts before _LEAVE at the same instant
    entry_id: int
    singer_id: int
    turn: bool


_ADD, _LEAVE = 0, 1


def _replay(singers: Sequence[Singer], entries: Sequence[Entry], waiting: list[Entry]) -> _Rotation:
    ranked = sorted(singers, key=lambda s: (s.joined_at, s.id))
    rotation = _Rotation({s.id: j for j, s in enumerate(ranked)})
    for entry in waiting:
        if entry.singer_id not in rotation.join_index:
            raise ValueError(f"entry {entry.id} is waiting for singer {entry.singer_id}, who is not in the room")
    waiting_songs: dict[int, int] = {}
    for event in sorted(_events(entries, rotation.join_index)):
        if event.kind == _ADD:
            waiting_songs[event.singer_id] = waiting_songs.get(event.singer_id, 0) + 1
            if waiting_songs[event.singer_id] == 1:
                rotation.activate(event.singer_id)
        else:
            waiting_songs[event.singer_id] -= 1
            if event.turn:
                rotation.use_turn(event.singer_id)
    rotation.queue(waiting)
    return rotation


def _events(entries: Iterable[Entry], join_index: dict[int, int]) -> Iterable[_Event]:
    for e in entries:
        if e.singer_id not in join_index:
            continue  # the caller dropped this singer; see "Pass every singer" above
        yield _Event(e.added_at, _ADD, e.id, e.singer_id, False)
        if e.status == "waiting":
            continue
        left = e.started_at or e.finished_at or e.added_at
        # max(): a clock skew must not make an entry leave before it was added
        yield _Event(max(left, e.added_at), _LEAVE, e.id, e.singer_id, e.status in ("done", "playing"))
