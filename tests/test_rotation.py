"""Rotation: table tests for each rule, then a hypothesis state machine for a whole night.

The ``Party`` helper drives a room the way the services will (plays take ``next_up``,
pins are written from the pin helpers) and names entries ``A1, A2, B1 ...`` by singer and
the order each singer added them, so the tables read like the queue on the TV.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from queue_app import rotation
from queue_app.rotation import Entry, Singer

T0 = datetime(2025, 6, 1, 20, 0, tzinfo=UTC)


class Party:
    def __init__(self, mode: rotation.Mode = "fair", max_waiting: int | None = None) -> None:
        self.mode: rotation.Mode = mode
        self.max_waiting = max_waiting
        self.now = T0
        self.singers: dict[int, Singer] = {}
        self.names: dict[str, int] = {}
        self.entries: dict[int, Entry] = {}
        self.labels: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._added: dict[str, int] = {}
        # every start, in order, as (entry id, singer id); skipped ones are struck off
        self.starts: list[tuple[int, int]] = []

    # -- time: every action happens a little after the previous one
    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    # -- singers
    def join(self, name: str) -> None:
        self.tick()
        singer_id = next(self._ids)
        self.singers[singer_id] = Singer(singer_id, self.now)
        self.names[name] = singer_id

    def leave(self, name: str) -> None:
        self.tick()
        # The Singer stays: rotation wants everyone who ever joined (see its docstring).
        singer_id = self.names.pop(name)
        self._unqueue([e.id for e in self.waiting() if e.singer_id == singer_id])

    # -- entries
    def add(self, name: str, *, ready: bool = True, duration: float | None = 180) -> str:
        self.tick()
        entry_id = next(self._ids)
        self._added[name] = self._added.get(name, 0) + 1
        label = f"{name}{self._added[name]}"
        self.entries[entry_id] = Entry(entry_id, self.names[name], "waiting", self.now, duration=duration, ready=ready)
        self.labels[entry_id] = label
        return label

    def id_of(self, label: str) -> int:
        return next(i for i, lab in self.labels.items() if lab == label)

    def remove(self, label: str) -> None:
        self.tick()
        self._unqueue([self.id_of(label)])

    def make_ready(self, label: str) -> None:
        entry_id = self.id_of(label)
        self.entries[entry_id] = replace(self.entries[entry_id], ready=True)

    def skip(self, label: str) -> None:
        """The host skips a waiting song, or the one playing."""
        self.tick()
        entry = self.entries[self.id_of(label)]
        if entry.status == "waiting":
            self._pin(rotation.pins_after_leave(self.order(), {entry.id}))
        self.starts = [s for s in self.starts if s[0] != entry.id]
        self.entries[entry.id] = replace(entry, status="skipped", finished_at=self.now, pinned_position=None)

    def play(self) -> str | None:
        """The current song ends; the next ready one starts. Returns its label."""
        self.tick(180)
        self._finish_current()
        queue = self.order()
        nxt = rotation.next_up(queue)
        if nxt is None:
            return None
        self._pin(rotation.pins_after_leave(queue, {nxt.id}))
        self.entries[nxt.id] = replace(
            self.entries[nxt.id], status="playing", started_at=self.now, pinned_position=None
        )
        self.starts.append((nxt.id, nxt.singer_id))
        return self.labels[nxt.id]

    def play_all(self) -> list[str]:
        played = []
        while (label := self.play()) is not None:
            played.append(label)
        return played

    def move(self, label: str, slot: int) -> None:
        self.tick()
        self._pin(rotation.pins_after_move(self.order(), self.id_of(label), slot))

    # -- reading
    def waiting(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.status == "waiting"]

    def current(self) -> Entry | None:
        return rotation.current_entry(self.entries.values())

    def order(self) -> list[Entry]:
        return rotation.order(mode=self.mode, singers=list(self.singers.values()), entries=list(self.entries.values()))

    def queue(self) -> list[str]:
        return [self.labels[e.id] for e in self.order()]

    def plan(self, elapsed: float = 0.0) -> list[rotation.Planned]:
        return rotation.plan(
            mode=self.mode,
            singers=list(self.singers.values()),
            entries=list(self.entries.values()),
            now=self.now,
            elapsed=elapsed,
            default_duration=200,
        )

    # -- internals
    def _finish_current(self) -> None:
        current = self.current()
        if current is not None:
            self.entries[current.id] = replace(current, status="done", finished_at=self.now)

    def _unqueue(self, entry_ids: list[int]) -> None:
        self._pin(rotation.pins_after_leave(self.order(), set(entry_ids)))
        for entry_id in entry_ids:
            del self.entries[entry_id]

    def _pin(self, pins: dict[int, int]) -> None:
        for entry in self.waiting():
            self.entries[entry.id] = replace(entry, pinned_position=pins.get(entry.id))


def party_of(*names: str, mode: rotation.Mode = "fair") -> Party:
    party = Party(mode)
    for name in names:
        party.join(name)
    return party


# --- fair rotation: one rule per test ------------------------------------------------------


def test_it_plays_the_first_round_in_join_order_whoever_added_first() -> None:
    party = party_of("A", "B", "C")
    party.add("C")
    party.add("B")
    party.add("A")
    assert party.queue() == ["A1", "B1", "C1"]


def test_it_gives_every_waiting_singer_one_song_per_round() -> None:
    party = party_of("A", "B", "C")
    for _ in range(3):
        party.add("A")
    party.add("B")
    party.add("C")
    party.add("C")
    assert party.queue() == ["A1", "B1", "C1", "A2", "C2", "A3"]
    assert party.play_all() == ["A1", "B1", "C1", "A2", "C2", "A3"]


def test_it_puts_a_late_joiner_at_the_end_of_the_current_round() -> None:
    party = party_of("A", "B", "C")
    for name in "ABC":
        party.add(name)
        party.add(name)
    party.play()  # A1
    party.play()  # B1 playing
    party.join("D")
    party.add("D")
    assert party.queue() == ["C1", "D1", "A2", "B2", "C2"]


def test_it_never_puts_a_late_joiner_ahead_of_someone_still_waiting_in_a_later_round() -> None:
    # Counting songs sung would put D (none yet) before C (one), who has waited all round.
    party = party_of("A", "B", "C")
    for name in "ABC":
        party.add(name)
        party.add(name)
    assert [party.play() for _ in range(5)] == ["A1", "B1", "C1", "A2", "B2"]
    party.join("D")
    party.add("D")
    assert party.queue() == ["C2", "D1"]


def test_it_makes_whoever_has_sung_more_wait() -> None:
    party = party_of("A", "B")
    party.add("A")
    assert party.play() == "A1"
    party.add("A")
    party.add("B")  # B's first song, A's second: B goes first though A added first
    assert party.queue() == ["B1", "A2"]


def test_it_does_not_count_a_skipped_song_as_a_turn() -> None:
    party = party_of("A", "B")
    party.add("A")
    party.add("A")
    party.add("B")
    assert party.play() == "A1"
    party.skip("A1")
    # A's turn is still theirs: A2 comes before B1.
    assert party.queue() == ["A2", "B1"]


def test_it_does_not_count_a_song_skipped_before_it_played() -> None:
    party = party_of("A", "B")
    party.add("A")
    party.add("B")
    party.add("A")
    party.skip("A1")
    assert party.queue() == ["A2", "B1"]


def test_it_counts_the_playing_singer_as_having_sung_this_round() -> None:
    party = party_of("A", "B")
    party.add("A")
    assert party.play() == "A1"
    party.add("A")
    party.add("B")
    assert party.current() is not None
    assert party.queue() == ["B1", "A2"]


def test_it_keeps_a_singers_own_songs_in_the_order_they_added_them() -> None:
    party = party_of("A", "B")
    party.add("A")
    party.add("A")
    party.add("A")
    party.add("B")
    assert [lab for lab in party.queue() if lab.startswith("A")] == ["A1", "A2", "A3"]


def test_it_gives_a_singer_back_from_a_break_their_usual_place_without_extra_songs() -> None:
    party = party_of("A", "B", "C")
    party.add("B")
    party.add("C")
    party.add("B")
    party.add("C")
    party.add("B")
    party.add("C")
    assert [party.play() for _ in range(3)] == ["B1", "C1", "B2"]
    # A sat out two rounds; now A adds three songs.
    for _ in range(3):
        party.add("A")
    # C is still to sing this round; A's place (first) comes round next, once per round.
    assert party.queue() == ["C2", "A1", "B3", "C3", "A2", "A3"]


def test_it_does_not_owe_a_singer_the_rounds_they_sat_out() -> None:
    party = party_of("A", "B")
    party.add("A")
    for _ in range(3):
        party.add("B")
    assert party.play_all() == ["A1", "B1", "B2", "B3"]  # A sat out rounds 1 and 2
    party.add("A")
    party.add("A")
    party.add("B")
    assert party.queue() == ["A2", "B4", "A3"]


def test_it_puts_a_singer_back_from_a_break_at_their_place_not_at_the_front() -> None:
    party = party_of("A", "B", "C")
    party.add("A")
    party.add("C")
    party.add("C")
    assert party.play() == "A1"
    assert party.play() == "C1"
    party.add("B")  # B joined before C, but the rotation is past B this round
    party.add("A")
    assert party.queue() == ["A2", "B1", "C2"]


def test_it_passes_over_a_song_that_is_not_ready_and_keeps_its_place() -> None:
    party = party_of("A", "B", "C")
    party.add("A", ready=False)
    party.add("B")
    party.add("C")
    party.add("B")
    assert party.queue() == ["A1", "B1", "C1", "B2"]
    assert party.play() == "B1"
    assert party.queue() == ["A1", "C1", "B2"]
    party.make_ready("A1")
    assert party.play() == "A1"


def test_it_does_not_let_a_singer_save_up_turns_while_their_song_processes() -> None:
    party = party_of("A", "B")
    party.add("A", ready=False)
    party.add("A")
    party.add("A")
    for _ in range(3):
        party.add("B")
    assert [party.play() for _ in range(3)] == ["B1", "B2", "B3"]  # rounds 0, 1, 2
    party.make_ready("A1")
    party.add("B")
    party.add("B")
    # A1 kept A's round-0 place; A2 is A's place in round 3, which A opens; A3 is not
    # owed rounds 1 and 2 back, so it waits for round 4.
    assert party.queue() == ["A1", "A2", "B4", "A3", "B5"]


def test_it_blocks_a_singers_later_songs_behind_their_song_that_is_not_ready() -> None:
    # Own songs keep their order: A2 does not overtake A1 while A1 processes.
    party = party_of("A", "B")
    party.add("A", ready=False)
    party.add("A")
    party.add("B")
    party.add("B")
    assert party.play() == "B1"
    assert party.play() == "B2"
    assert party.play() is None
    assert party.queue() == ["A1", "A2"]


def test_it_keeps_a_play_next_override() -> None:
    party = party_of("A", "B", "C")
    for name in "ABC":
        party.add(name)
    party.move("C1", 0)
    assert party.queue() == ["C1", "A1", "B1"]
    assert party.play() == "C1"
    assert party.queue() == ["A1", "B1"]


def test_it_keeps_a_move_to_a_slot_as_the_list_plays_down() -> None:
    party = party_of("A", "B", "C", "D")
    for name in "ABCD":
        party.add(name)
    party.move("A1", 2)
    assert party.queue() == ["B1", "C1", "A1", "D1"]
    assert party.play() == "B1"
    assert party.queue() == ["C1", "A1", "D1"]
    party.add("B")
    assert party.queue() == ["C1", "A1", "D1", "B2"]


def test_it_counts_a_pinned_song_as_its_singers_turn() -> None:
    party = party_of("A", "B")
    for name in "AABB":
        party.add(name)
    party.move("A2", 0)
    # A2 is A's round-0 song now, so A1 waits for round 1.
    assert party.queue() == ["A2", "B1", "A1", "B2"]
    assert party.play() == "A2"
    assert party.queue() == ["B1", "A1", "B2"]


def test_it_lets_the_others_catch_up_on_a_round_a_pinned_song_was_pulled_from() -> None:
    party = party_of("A", "B")
    party.add("A")
    party.add("A")
    assert party.play() == "A1"  # round 0
    party.move("A2", 0)  # A's round-1 song, pulled forward
    party.add("B")
    party.add("B")
    assert party.queue() == ["A2", "B1", "B2"]
    assert party.play() == "A2"
    party.add("A")
    # B sings rounds 0 and 1 before A's round 2: A2 already was A's round-1 song.
    assert party.queue() == ["B1", "B2", "A3"]


def test_it_keeps_a_pin_ahead_of_someone_who_starts_waiting_after_it() -> None:
    party = party_of("A", "B")
    party.add("A")
    party.add("A")
    party.move("A2", 1)
    party.add("B")
    # The host said A2 goes second; B starting to wait does not undo that.
    assert party.queue() == ["A1", "A2", "B1"]
    assert party.play_all() == ["A1", "A2", "B1"]


def test_it_lays_out_a_song_behind_its_singers_pins_at_their_next_turn() -> None:
    party = party_of("A", "B")
    party.add("A")
    assert party.play() == "A1"  # round 0
    for _ in range(3):
        party.add("A", ready=False)
    for _ in range(3):
        party.add("B")
    party.move("A2", 0)
    party.move("A3", 1)
    # A pinned song uses its singer's turn: A2 and A3 take A's rounds 1 and 2, so A4 is
    # A's round-3 song. Laid out as if the pins sing first, the rotation is in round 2
    # when B1 (B's round 0) comes, so B's next turn is round 2 (no banking): B2 before
    # A4, B3 after.
    assert party.queue() == ["A2", "A3", "B1", "B2", "A4", "B3"]
    # But the pins are still processing, so B1 passes them and sings in round 0 after
    # all. B2 is B's round 1 and B3 its round 2, both ahead of A4 (round 3): A4 goes
    # back one place, and that is the fair order (A has sung A1; B has sung B1). A4
    # never held A's turn; the pinned A2 does, and keeps its place.
    assert party.play() == "B1"
    assert party.queue() == ["A2", "A3", "B2", "B3", "A4"]
    assert rotation.next_up(party.order()) == party.entries[party.id_of("B2")]


def test_it_keeps_the_list_the_host_dragged_when_moving_among_other_pins() -> None:
    party = party_of("A", "B", "C", "D", "E")
    for name in "ABCDE":
        party.add(name)
    party.move("E1", 1)
    before = party.queue()
    party.move("A1", 3)
    expected = [lab for lab in before if lab != "A1"]
    expected.insert(3, "A1")
    assert party.queue() == expected


def test_it_breaks_ties_in_join_time_by_id() -> None:
    same = T0
    singers = [Singer(2, same), Singer(1, same)]
    entries = [Entry(10, 2, "waiting", same), Entry(11, 1, "waiting", same)]
    ordered = rotation.order(mode="fair", singers=singers, entries=entries)
    assert [e.id for e in ordered] == [11, 10]


def test_it_keeps_the_rotation_where_it_was_when_the_last_singer_leaves() -> None:
    party = party_of("A", "B", "E", "X", "C")
    party.add("B")
    party.add("X")
    party.add("C")
    assert party.play() == "B1"
    assert party.play() == "X1"
    party.add("E")  # the rotation is past E this round
    party.leave("X")
    assert party.queue() == ["C1", "E1"]


def test_it_ignores_past_songs_of_singers_it_is_not_given() -> None:
    singers = [Singer(1, T0), Singer(2, T0 + timedelta(seconds=1))]
    entries = [
        Entry(10, 3, "done", T0, started_at=T0),
        Entry(11, 2, "waiting", T0),
        Entry(12, 1, "waiting", T0),
    ]
    assert [e.id for e in rotation.order(mode="fair", singers=singers, entries=entries)] == [12, 11]


def test_it_refuses_a_waiting_entry_of_a_singer_not_in_the_room() -> None:
    with pytest.raises(ValueError, match="singer 9"):
        rotation.order(mode="fair", singers=[], entries=[Entry(1, 9, "waiting", T0)])


def test_it_refuses_two_playing_entries() -> None:
    entries = [Entry(1, 1, "playing", T0, started_at=T0), Entry(2, 1, "playing", T0, started_at=T0)]
    with pytest.raises(ValueError, match="only one entry can be playing"):
        rotation.order(mode="fair", singers=[Singer(1, T0)], entries=entries)


def test_it_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown rotation mode"):
        rotation.order(mode="random", singers=[], entries=[])  # type: ignore[arg-type]


def test_it_returns_nobody_next_when_nothing_is_ready() -> None:
    party = party_of("A")
    party.add("A", ready=False)
    assert rotation.next_up(party.order()) is None
    assert party.queue() == ["A1"]


# --- FIFO -------------------------------------------------------------------------------


def test_it_plays_fifo_in_the_order_songs_were_added() -> None:
    party = party_of("A", "B", mode="fifo")
    party.add("A")
    party.add("A")
    party.add("B")
    party.add("A")
    assert party.play_all() == ["A1", "A2", "B1", "A3"]


def test_it_breaks_fifo_ties_by_id() -> None:
    entries = [Entry(7, 1, "waiting", T0), Entry(3, 1, "waiting", T0)]
    ordered = rotation.order(mode="fifo", singers=[Singer(1, T0)], entries=entries)
    assert [e.id for e in ordered] == [3, 7]


def test_it_keeps_overrides_in_fifo() -> None:
    party = party_of("A", "B", mode="fifo")
    for name in "ABAB":
        party.add(name)
    party.move("B2", 0)
    party.move("A1", 2)
    assert party.queue() == ["B2", "B1", "A1", "A2"]


# --- estimates --------------------------------------------------------------------------


def test_it_estimates_each_start_from_the_current_song_and_the_durations_ahead() -> None:
    party = party_of("A", "B", "C")
    party.add("A", duration=200)
    party.add("B", duration=300)
    party.add("C", duration=None)  # not measured yet: the default (200 in Party.plan)
    party.add("A", duration=100)
    party.entries[party.id_of("A1")] = replace(party.entries[party.id_of("A1")], status="playing", started_at=party.now)
    planned = party.plan(elapsed=50)
    assert [p.position for p in planned] == [0, 1, 2]
    assert [p.wait_seconds for p in planned] == [150, 450, 650]
    assert [p.starts_at for p in planned] == [party.now + timedelta(seconds=s) for s in (150, 450, 650)]
    assert planned[2].wait_minutes == 11


def test_it_estimates_now_when_nothing_plays_and_never_a_negative_remainder() -> None:
    entry = Entry(1, 1, "playing", T0, started_at=T0, duration=100)
    assert rotation.remaining_seconds(entry, 500, 240) == 0
    assert rotation.remaining_seconds(None, 10, 240) == 0
    assert rotation.remaining_seconds(replace(entry, duration=None), 40, 240) == 200
    planned = rotation.estimate_starts([Entry(2, 1, "waiting", T0)], T0, 0, 240)
    assert planned[0].starts_at == T0


# --- the per-singer limit ---------------------------------------------------------------


def test_it_allows_adding_up_to_the_limit_of_waiting_songs() -> None:
    entries = [
        Entry(1, 1, "waiting", T0),
        Entry(2, 1, "waiting", T0, ready=False),
        Entry(3, 1, "done", T0, started_at=T0),
        Entry(4, 1, "playing", T0, started_at=T0),
        Entry(5, 2, "waiting", T0),
    ]
    assert rotation.can_add(1, entries, 3)
    assert not rotation.can_add(1, entries, 2)
    assert rotation.can_add(2, entries, 2)
    assert rotation.can_add(1, entries, None)


def test_it_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="max_waiting"):
        rotation.can_add(1, [], 0)


# --- a whole night: hypothesis ----------------------------------------------------------

MAX_WAITING = 3
MAX_SINGERS = 6  # in the room at once
MAX_EVER = 10  # joins in one night, so a run stays short


def round_robin(party: Party, last_singer: int | None) -> list[int]:
    """The rotation a host runs by hand: around everyone in join order, starting after
    whoever sang last, each singer with a song left singing their next one."""
    ring = [s.id for s in sorted(party.singers.values(), key=lambda s: (s.joined_at, s.id))]
    start = ring.index(last_singer) + 1 if last_singer is not None else 0
    ring = ring[start:] + ring[:start]
    songs = {
        singer: sorted((e for e in party.waiting() if e.singer_id == singer), key=lambda e: (e.added_at, e.id))
        for singer in ring
    }
    laid: list[int] = []
    while any(songs.values()):
        for singer in ring:
            if songs[singer]:
                laid.append(songs[singer].pop(0).id)
    return laid


class Night(RuleBasedStateMachine):
    """Random joins, leaves, adds, removes, skips, plays, pins and processing songs.

    A *clean* night (half of them) has no pins and no songs processing; there the whole
    queue must be exactly the hand-run round robin. Every night is checked for the
    weaker properties. Fairness windows: a singer is *steady* from the moment they are
    waiting with every waiting song ready until that stops (they run dry, leave, or add
    a song still processing). Host pins make everything unsteady (the host's choice).
    """

    def __init__(self) -> None:
        super().__init__()
        self.party = Party()
        self.names = (f"S{n}" for n in itertools.count())
        self.steady_since: dict[int, int] = {}  # singer id -> index into party.starts
        self.waited: dict[int, int] = {}  # entry id -> plays it sat through, steady
        self.entering: dict[int, int] = {}  # singer who started waiting -> starts index then
        # Singers who had a song processing since they last sang: they may hold an owed
        # turn from an earlier round, sung late and on top, so their window waits.
        self.owed: set[int] = set()
        # Singers left waiting when a pinned song started. A pin may pull a song forward
        # from a later round (it uses its singer's turn there) and the cursor follows it,
        # so they may hold a turn from the round before, sung late and on top. Owed too.
        self.passed_by_pin: set[int] = set()
        self.ever_pinned = False
        self.ever_not_ready = False
        self.clean = False

    @initialize(mode=st.sampled_from(rotation.MODES), clean=st.booleans(), crowd=st.integers(1, 4))
    def start(self, mode: rotation.Mode, clean: bool, crowd: int) -> None:
        self.party.mode = mode
        self.clean = clean
        for _ in range(crowd):
            self.join()

    @rule()
    @precondition(lambda self: len(self.party.names) < MAX_SINGERS and len(self.party.singers) < MAX_EVER)
    def join(self) -> None:
        self.party.join(next(self.names))

    @rule(data=st.data())
    @precondition(lambda self: self.party.names)
    def leave(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.party.names)))
        singer_id = self.party.names[name]
        for entry in self.party.waiting():
            if entry.singer_id == singer_id:
                self.waited.pop(entry.id, None)
        self.steady_since.pop(singer_id, None)
        self.entering.pop(singer_id, None)
        self.party.leave(name)

    # Several songs at a time, or plays would keep the queue too short to be interesting.
    @rule(
        data=st.data(),
        songs=st.lists(
            st.tuples(st.booleans() | st.just(True), st.none() | st.integers(60, 400)), min_size=1, max_size=3
        ),
    )
    @precondition(lambda self: self.party.names)
    def add(self, data: st.DataObject, songs: list[tuple[bool, int | None]]) -> None:
        name = data.draw(st.sampled_from(sorted(self.party.names)))
        for ready, duration in songs:
            self._add(name, ready or self.clean, duration)

    def _add(self, name: str, ready: bool, duration: int | None) -> None:
        singer_id = self.party.names[name]
        entries = list(self.party.entries.values())
        if not rotation.can_add(singer_id, entries, MAX_WAITING):
            assert rotation.waiting_count(singer_id, entries) == MAX_WAITING
            return
        before = self.party.order()
        entering = rotation.waiting_count(singer_id, entries) == 0
        label = self.party.add(name, ready=ready, duration=duration)
        entry_id = self.party.id_of(label)
        after = self.party.order()
        self.ever_not_ready |= not ready
        if not any(e.pinned_position is not None for e in before):
            # adding a song never reorders the songs already queued
            assert [e.id for e in after if e.id != entry_id] == [e.id for e in before]
        if entering:
            # Not while a pin is queued (the host's order is kept, whoever starts waiting)
            # or someone holds a turn from before a pinned song (see passed_by_pin).
            if not self._pinned() and not self.passed_by_pin:
                self.entering[singer_id] = len(self.party.starts)
            self._check_entering_place(singer_id, entry_id, after)
        self._update_steadiness()
        self.waited[entry_id] = 0

    def _check_entering_place(self, singer_id: int, entry_id: int, after: list[Entry]) -> None:
        """Someone who starts waiting (a late joiner above all) never jumps the queue.

        Exact in a clean night (no pins, no songs processing): they sing after exactly
        the waiting singers the rotation reaches first, going round in join order from
        whoever sang last. For a late joiner, the newest, that is everyone still to sing
        this round: the end of the current round.
        """
        if self.party.mode != "fair" or self.ever_pinned or self.ever_not_ready:
            return
        ring = [s.id for s in sorted(self.party.singers.values(), key=lambda s: (s.joined_at, s.id))]
        last = ring.index(self.party.starts[-1][1]) if self.party.starts else -1

        def reached_after(singer: int) -> int:
            return (ring.index(singer) - last - 1) % len(ring)

        ahead = {e.singer_id for e in after[: [e.id for e in after].index(entry_id)]}
        reached_first = {e.singer_id for e in after if reached_after(e.singer_id) < reached_after(singer_id)}
        assert ahead == reached_first
        has_sung = any(s == singer_id for _, s in self.party.starts)
        if singer_id == ring[-1] and self.party.starts and not has_sung:
            # a late joiner (the newest): after everyone still to sing this round, no later
            still_to_sing = {e.singer_id for e in after if ring.index(e.singer_id) > last}
            assert ahead == still_to_sing - {singer_id}

    @rule(data=st.data())
    @precondition(lambda self: self.party.waiting())
    def remove(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.party.waiting(), key=lambda e: e.id)))
        self.waited.pop(entry.id, None)
        self.party.remove(self.party.labels[entry.id])
        self._update_steadiness()

    @rule(data=st.data())
    @precondition(lambda self: any(not e.ready for e in self.party.waiting()))
    def finish_processing(self, data: st.DataObject) -> None:
        pending = sorted((e for e in self.party.waiting() if not e.ready), key=lambda e: e.id)
        entry = data.draw(st.sampled_from(pending))
        self.party.make_ready(self.party.labels[entry.id])
        self._update_steadiness()

    @rule(data=st.data())
    @precondition(lambda self: self.party.waiting())
    def skip_waiting(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.party.waiting(), key=lambda e: e.id)))
        self.waited.pop(entry.id, None)
        self.party.skip(self.party.labels[entry.id])
        self._update_steadiness()

    @rule()
    @precondition(lambda self: self.party.current() is not None)
    def skip_playing(self) -> None:
        current = self.party.current()
        assert current is not None
        self.party.skip(self.party.labels[current.id])
        self.owed.add(current.singer_id)  # the turn they were using is theirs again
        # its singer's start no longer counts; restart windows that included it
        self.steady_since = {s: min(i, len(self.party.starts)) for s, i in self.steady_since.items()}
        self.entering = {s: min(i, len(self.party.starts)) for s, i in self.entering.items()}

    # "play next" and "after the next one" are what hosts do most; past the end is clamped
    @rule(data=st.data(), slot=st.integers(0, 2) | st.integers(0, 2 * MAX_SINGERS * MAX_WAITING))
    @precondition(lambda self: self.party.waiting() and not self.clean)
    def move(self, data: st.DataObject, slot: int) -> None:
        queue = self.party.order()
        entry = data.draw(st.sampled_from(queue))
        self.party.move(self.party.labels[entry.id], slot)
        after = self.party.queue()
        assert after.index(self.party.labels[entry.id]) == min(slot, len(queue) - 1)
        self.ever_pinned = True
        self.steady_since.clear()
        self.entering.clear()

    @rule()
    def play(self) -> None:
        before = self.party.order()
        pinned_ids = {e.id for e in before if e.pinned_position is not None}
        not_ready_ahead = {
            e.id: {later.id for later in before[i + 1 :]}
            for i, e in enumerate(before)
            if not e.ready and self._holds_turn(e, before)
        }
        label = self.party.play()
        after = [e.id for e in self.party.order()]
        if before and label == self.party.labels[before[0].id]:
            # the queue on the TV is the queue that happens: the head plays, the rest stays
            assert after == [e.id for e in before[1:]]
        singer_now = self.party.current().singer_id if self.party.current() else None
        for entry_id, behind in not_ready_ahead.items():
            # Passed over, not pushed back: still ahead of everything it was ahead of.
            # (Only the song holding its singer's turn, see _holds_turn; their later songs
            # follow the singer's turns, or waiting would earn extra songs. And not if the
            # host pinned another song of that singer, which just used the turn.)
            if self.party.entries[entry_id].singer_id == singer_now:
                continue
            place = after.index(entry_id)
            assert all(after.index(b) > place for b in behind if b in after)
        if label is None:
            return
        self._check_steady_turns()
        self._check_nobody_starves()
        self._check_entering()
        started_id, started_singer = self.party.starts[-1]
        self.owed.discard(started_singer)
        self.passed_by_pin.discard(started_singer)
        if started_id in pinned_ids:
            others = {e.singer_id for e in self.party.waiting()} - {started_singer}
            self.passed_by_pin |= others
            self.owed |= others
        self._update_steadiness()

    @staticmethod
    def _holds_turn(entry: Entry, queue: list[Entry]) -> bool:
        """Whether the entry holds its singer's turn: unpinned, and their first in the queue.

        Not their first unpinned one behind a pinned song of theirs: a pinned song uses
        its singer's turn like any other (the docstring of rotation), so the pinned one
        holds the turn and this one is only laid out at a later turn of theirs, as if
        the pins had sung first. While the pins still process, a ready song that passes
        them sings in the round it really is, and this one may rightly go back behind
        that singer's next song; see
        test_it_lays_out_a_song_behind_its_singers_pins_at_their_next_turn.
        """
        ahead = queue[: queue.index(entry)]
        return entry.pinned_position is None and all(e.singer_id != entry.singer_id for e in ahead)

    def _steady_singers(self) -> set[int]:
        steady = set()
        for singer_id in self.party.singers:
            mine = [e for e in self.party.waiting() if e.singer_id == singer_id]
            if mine and all(e.ready for e in mine):
                steady.add(singer_id)
        return steady

    def _update_steadiness(self) -> None:
        waiting = {e.singer_id for e in self.party.waiting()}
        self.passed_by_pin &= waiting
        self.entering = {s: i for s, i in self.entering.items() if s in waiting}
        self.owed |= {e.singer_id for e in self.party.waiting() if not e.ready}
        steady = set() if self._pinned() else self._steady_singers() - self.owed
        self.steady_since = {s: self.steady_since.get(s, len(self.party.starts)) for s in steady}

    def _pinned(self) -> bool:
        return any(e.pinned_position is not None for e in self.party.waiting())

    def _check_steady_turns(self) -> None:
        """Every singer with a waiting song sings once per round.

        Observable form: over any stretch in which two singers both keep a ready song
        waiting, their numbers of songs differ by at most one.
        """
        if self.party.mode != "fair":
            return
        for a, b in itertools.combinations(sorted(self.steady_since), 2):
            since = max(self.steady_since[a], self.steady_since[b])
            window = [s for _, s in self.party.starts[since:]]
            assert abs(window.count(a) - window.count(b)) <= 1, (a, b, window)

    def _check_nobody_starves(self) -> None:
        """A ready song waits at most a bounded number of plays while nothing is pinned.

        Fair: at most MAX_WAITING songs of its singer go first, one per round, and a
        round is at most every singer once plus one kept turn each (songs that were
        processing); FIFO is no worse.
        """
        bound = MAX_WAITING * 2 * MAX_EVER
        blocked = {e.singer_id for e in self.party.waiting() if not e.ready}
        pinned = self._pinned()
        for entry in self.party.waiting():
            if entry.id not in self.waited:
                continue
            if pinned or entry.singer_id in blocked:
                self.waited[entry.id] = 0
                continue
            self.waited[entry.id] += 1
            assert self.waited[entry.id] <= bound, (self.party.labels[entry.id], bound)

    def _check_entering(self) -> None:
        """Nobody sings twice between someone starting to wait and their first song.

        So a late joiner waits less than a round. (Songs that were processing may have
        kept an older turn, which is sung late on top; those nights are left out.)
        """
        if self.party.mode != "fair" or self.ever_not_ready:
            return
        for singer_id, since in list(self.entering.items()):
            window = [s for _, s in self.party.starts[since:]]
            if singer_id in window:
                window = window[: window.index(singer_id)]
                del self.entering[singer_id]
            assert all(window.count(s) <= 1 for s in set(window)), window

    @invariant()
    def a_clean_fair_night_is_a_plain_round_robin(self) -> None:
        if self.party.mode == "fair" and not self.ever_pinned and not self.ever_not_ready:
            last = self.party.starts[-1][1] if self.party.starts else None
            assert [e.id for e in self.party.order()] == round_robin(self.party, last)

    @invariant()
    def positions_are_unique_and_contiguous(self) -> None:
        planned = self.party.plan(elapsed=30)
        assert [p.position for p in planned] == list(range(len(planned)))
        assert sorted(p.entry.id for p in planned) == sorted(e.id for e in self.party.waiting())

    @invariant()
    def estimates_add_up(self) -> None:
        planned = self.party.plan(elapsed=30)
        current = self.party.current()
        wait = rotation.remaining_seconds(current, 30, 200)
        for p in planned:
            assert p.wait_seconds == pytest.approx(wait)
            assert p.starts_at >= self.party.now
            wait += rotation.duration_of(p.entry, 200)

    @invariant()
    def overrides_are_kept(self) -> None:
        queue = self.party.order()
        for position, entry in enumerate(queue):
            if entry.pinned_position is not None:
                assert entry.pinned_position == position

    @invariant()
    def own_songs_keep_their_order(self) -> None:
        unpinned = [e for e in self.party.order() if e.pinned_position is None]
        for singer_id in self.party.singers:
            mine = [e for e in unpinned if e.singer_id == singer_id]
            assert mine == sorted(mine, key=lambda e: (e.added_at, e.id))

    @invariant()
    def fifo_plays_in_added_order(self) -> None:
        if self.party.mode == "fifo":
            unpinned = [e for e in self.party.order() if e.pinned_position is None]
            assert unpinned == sorted(unpinned, key=lambda e: (e.added_at, e.id))

    @invariant()
    def next_up_is_the_first_ready_song_not_behind_its_own_singer(self) -> None:
        queue = self.party.order()
        nxt = rotation.next_up(queue)
        playable = [
            e
            for i, e in enumerate(queue)
            if e.ready
            and (
                e.pinned_position is not None
                or not any(o.singer_id == e.singer_id and not o.ready and o.pinned_position is None for o in queue[:i])
            )
        ]
        assert nxt == (playable[0] if playable else None)

    @invariant()
    def no_singer_goes_over_the_limit(self) -> None:
        for singer_id in self.party.names.values():
            assert rotation.waiting_count(singer_id, self.party.waiting()) <= MAX_WAITING


Night.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_it_stays_fair_through_a_random_night = Night.TestCase
