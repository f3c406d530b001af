"""LRC parsing: timed lines, tags, offset, and rejections that name the line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songs.providers.lrc import Line, LrcError, parse_lines, parse_lrc, to_lrc

DANCING_QUEEN = """\
[ar:ABBA]
[ti:Dancing Queen]
[al:Arrival]
[length: 03:51]
[by:someone]

[00:16.12] You can dance
[00:18.04] You can jive
[00:20.5] Having the time of your life
[01:02.123]
[00:44.00][01:30.00][02:40.00] You are the dancing queen
[03:01] Digging the dancing queen
"""


def test_it_parses_timed_lines_sorted_by_time() -> None:
    lines = parse_lines(DANCING_QUEEN)
    assert lines == [
        Line(16.12, "You can dance"),
        Line(18.04, "You can jive"),
        Line(20.5, "Having the time of your life"),
        Line(44.0, "You are the dancing queen"),
        Line(62.123, ""),
        Line(90.0, "You are the dancing queen"),
        Line(160.0, "You are the dancing queen"),
        Line(181.0, "Digging the dancing queen"),
    ]


def test_it_reads_the_id_tags() -> None:
    lrc = parse_lrc(DANCING_QUEEN)
    assert (lrc.artist, lrc.title, lrc.album, lrc.length) == ("ABBA", "Dancing Queen", "Arrival", 231.0)
    assert lrc.tags["by"] == "someone"


def test_it_shows_lyrics_sooner_for_a_positive_offset() -> None:
    lrc = parse_lrc("[offset:+500]\n[00:10.00] a\n")
    assert lrc.offset_ms == 500
    assert lrc.lines == [Line(9.5, "a")]


def test_it_shows_lyrics_later_for_a_negative_offset_and_never_before_zero() -> None:
    assert parse_lines("[offset:-250]\n[00:01.00] a\n") == [Line(1.25, "a")]
    assert parse_lines("[offset:2000]\n[00:01.00] a\n") == [Line(0.0, "a")]


def test_it_accepts_crlf_a_bom_and_blank_lines() -> None:
    assert parse_lines("\ufeff[ti:x]\r\n\r\n[00:01.00]a\r\n") == [Line(1.0, "a")]


@pytest.mark.parametrize(
    ("text", "line_no", "says"),
    [
        ("[ti:x]\n[00:01.00] a\n\n\n\n\n[00:6x.12] hello\n", 7, "line 7: '[00:6x.12] hello' is not a valid time tag"),
        ("[00:01.00] a\n[00:75.00] b\n", 2, "line 2: '[00:75.00] b' has 75 seconds"),
        ("[00:01.00] a\njust some words\n", 2, "line 2: 'just some words' is not a lyric line"),
        ("[00:01.00] a\n[ar:ABBA] trailing words\n", 2, "is not a lyric line"),
        ("[00:01.00] a\n[00:02.00 b\n", 2, "never closed"),
        ("[offset:soon]\n", 1, "offset that is not a whole number"),
        ("[length:long]\n", 1, "length that is not mm:ss"),
        ("[00:10.00] a\n[00:12.00] b\n[00:05.00] c\n", 3, "line 3: '[00:05.00] c' goes back in time (before line 2"),
    ],
)
def test_it_rejects_a_malformed_file_naming_the_line(text: str, line_no: int, says: str) -> None:
    with pytest.raises(LrcError) as caught:
        parse_lrc(text)
    assert caught.value.line_no == line_no
    assert says in str(caught.value)


def test_it_lets_a_repeated_chorus_jump_back() -> None:
    text = "[00:10.00] verse\n[00:20.00][00:05.00] chorus\n[00:30.00] verse 2\n"
    assert [line.t for line in parse_lines(text)] == [5.0, 10.0, 20.0, 30.0]


def test_it_writes_hundredths_unless_milliseconds_matter() -> None:
    text = to_lrc([Line(62.123, "b"), Line(16.1, "a")], tags={"ar": "ABBA", "offset": "100"})
    assert text == "[ar:ABBA]\n[00:16.10]a\n[01:02.123]b\n"


_lyric_text = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
    .map(str.strip)
    .filter(lambda s: not s.startswith("["))
)
_lines = st.lists(st.builds(Line, st.integers(0, 200 * 60_000).map(lambda ms: ms / 1000), _lyric_text), max_size=20)


@given(_lines)
def test_it_round_trips_through_to_lrc(lines: list[Line]) -> None:
    assert parse_lines(to_lrc(lines)) == sorted(lines)


@given(st.text(max_size=200))
def test_it_raises_only_lrc_errors_on_garbage(text: str) -> None:
    try:
        parse_lrc(text)
    except LrcError:
        pass
