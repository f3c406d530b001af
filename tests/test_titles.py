"""Title cleanup: real-looking YouTube titles and file names become (artist, title)."""

import pytest

from songs.providers.titles import TitleGuess, guess_artist_title

CASES = [
    # (raw title, uploader, expected artist, expected title)
    ("ABBA - Dancing Queen (Official Music Video Remastered)", "ABBA", "ABBA", "Dancing Queen"),
    ("Queen – Bohemian Rhapsody (Official Video Remastered)", "Queen Official", "Queen", "Bohemian Rhapsody"),
    (
        "Rick Astley - Never Gonna Give You Up (Official Music Video) [HD]",
        "Rick Astley",
        "Rick Astley",
        "Never Gonna Give You Up",
    ),
    ("Adele - Hello (Karaoke Version)", "Sing King", "Adele", "Hello"),
    ("Hello (Karaoke Version)", "Sing King", None, "Hello"),
    ("Hello (In the Style of Adele) [Karaoke Version]", "Sing King", "Adele", "Hello"),
    ("Adele - Someone Like You | Karaoke Version | KaraFun", "KaraFun", "Adele", "Someone Like You"),
    ("Bon Jovi – Livin' On A Prayer (Lyrics)", "7clouds Rock", "Bon Jovi", "Livin' On A Prayer"),
    (
        "Calvin Harris - This Is What You Came For (Official Video) ft. Rihanna",
        "CalvinHarrisVEVO",
        "Calvin Harris",
        "This Is What You Came For",
    ),
    ("Mark Ronson - Uptown Funk (feat. Bruno Mars) [Official Video]", "Mark Ronson", "Mark Ronson", "Uptown Funk"),
    ("Eminem featuring Rihanna - Love The Way You Lie", None, "Eminem", "Love The Way You Lie"),
    ("Daft Punk ft. Pharrell Williams - Get Lucky | Official Audio", None, "Daft Punk", "Get Lucky"),
    ("The Beatles - Here Comes The Sun (Remastered 2009)", None, "The Beatles", "Here Comes The Sun"),
    ("Wouldn't It Be Nice (Remastered 2001)", "The Beach Boys - Topic", "The Beach Boys", "Wouldn't It Be Nice"),
    ("Heroes - 2017 Remaster", "David Bowie - Topic", "David Bowie", "Heroes"),
    ("Dancing Queen", "ABBA - Topic", "ABBA", "Dancing Queen"),
    ("01 - ABBA - Dancing Queen.mp3", None, "ABBA", "Dancing Queen"),
    ("03_Queen_-_Don't_Stop_Me_Now.flac", None, "Queen", "Don't Stop Me Now"),
    ("Toto_-_Africa.mp3", None, "Toto", "Africa"),
    ("12. Journey - Don't Stop Believin'.m4a", None, "Journey", "Don't Stop Believin'"),
    ("99 Luftballons.mp3", None, None, "99 Luftballons"),
    ("Nena - 99 Luftballons (Official Video)", "NenaVEVO", "Nena", "99 Luftballons"),
    ("Jay-Z - Empire State of Mind", None, "Jay-Z", "Empire State of Mind"),
    (
        "The Rolling Stones - (I Can't Get No) Satisfaction (Official Lyric Video)",
        "The Rolling Stones",
        "The Rolling Stones",
        "(I Can't Get No) Satisfaction",
    ),
    ("Blue Öyster Cult - (Don't Fear) The Reaper [HQ]", None, "Blue Öyster Cult", "(Don't Fear) The Reaper"),
    ('Whitney Houston "I Will Always Love You"', None, "Whitney Houston", "I Will Always Love You"),
    ("Taylor Swift - Shake It Off", "TaylorSwiftVEVO", "Taylor Swift", "Shake It Off"),
    ("Shake It Off (Official Video)", "TaylorSwiftVEVO", "Taylor Swift", "Shake It Off"),
    ("Gloria Gaynor - I Will Survive [Karaoke with Lyrics]", "Zoom Karaoke", "Gloria Gaynor", "I Will Survive"),
    ("Livin' La Vida Loca (Karaoke)", "Stingray Karaoke", None, "Livin' La Vida Loca"),
    ("Oasis - Wonderwall (Official HD Remastered Video)", "Oasis", "Oasis", "Wonderwall"),
    ("Luis Fonsi - Despacito ft. Daddy Yankee", "LuisFonsiVEVO", "Luis Fonsi", "Despacito"),
    (
        "Whitney Houston - I Wanna Dance With Somebody (Official 4K Video)",
        "whitneyhoustonVEVO",
        "Whitney Houston",
        "I Wanna Dance With Somebody",
    ),
    ("Bohemian Rhapsody", "some random user", None, "Bohemian Rhapsody"),
    ("Michael Jackson - Billie Jean (Audio)", None, "Michael Jackson", "Billie Jean"),
    ("Celine Dion - My Heart Will Go On (Instrumental)", None, "Celine Dion", "My Heart Will Go On"),
    ("Survivor — Eye of the Tiger (Official HD Video)", None, "Survivor", "Eye of the Tiger"),
    ("Don't Stop Me Now | Queen | Karaoke Version", "Karaoke Hits", None, "Don't Stop Me Now"),
    (
        "Sweet Caroline (Made Famous By Neil Diamond) [Karaoke Version]",
        "Karaoke Version",
        "Neil Diamond",
        "Sweet Caroline",
    ),
]


@pytest.mark.parametrize(("raw", "uploader", "artist", "title"), CASES)
def test_it_guesses_artist_and_title(raw: str, uploader: str | None, artist: str | None, title: str) -> None:
    guess = guess_artist_title(raw, uploader)
    assert (guess.artist, guess.title) == (artist, title)


def test_it_keeps_the_featured_artists_apart() -> None:
    guess = guess_artist_title("Mark Ronson - Uptown Funk (feat. Bruno Mars) [Official Video]")
    assert guess == TitleGuess(artist="Mark Ronson", title="Uptown Funk", featuring=("Bruno Mars",))


def test_it_never_returns_an_empty_title() -> None:
    assert guess_artist_title("(Official Video)").title == "(Official Video)"
