"""A host searches the Library as they type and adds a song by link, in a real browser.

The live site runs its real qclusters, so the added song is downloaded and
transcoded for real (from the local "internet") while the page watches: its row
is pushed over /ws/library/html/, nothing polls.
"""

import pytest
from playwright.sync_api import expect

from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import make_audio, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_it_filters_as_you_type_and_shows_an_added_song_until_it_is_ready(live_site, page, staff_user, internet):
    take = SongFactory(title="Take On Me", artist="a-ha", status=Song.Status.READY, source=Song.Source.URL,
                       source_id="https://songs.example/1.mp3", source_url="https://songs.example/1.mp3")
    queen = SongFactory(title="Dancing Queen", artist="ABBA", status=Song.Status.READY, source=Song.Source.URL,
                        source_id="https://songs.example/2.mp3", source_url="https://songs.example/2.mp3")
    errors = []
    page.on("console", lambda message: message.type == "error" and "htmx" in message.text and errors.append(message.text))
    sign_in(page, live_site, staff_user)

    page.goto(live_site.url + "/library/")
    expect(page.locator(f"#song-{take.pk}")).to_be_visible()
    expect(page.locator(f"#song-{queen.pk}")).to_be_visible()
    # Anything on `window` survives only if the page is never reloaded.
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_label("Search the library").press_sequentially("abba", delay=40)
    expect(page.locator(f"#song-{take.pk}")).to_have_count(0)
    expect(page.locator(f"#song-{queen.pk}")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    assert "q=abba" in page.url  # pushed, so a reload keeps the search

    page.get_by_label("Search the library").fill("")
    expect(page.locator(f"#song-{take.pk}")).to_be_visible()

    # A download slow enough to watch: about 3 s.
    audio = make_audio(6.0)
    internet.add_file("/slow-song.mp3", audio, "audio/mpeg", chunk_size=len(audio) // 8 + 1, chunk_delay=0.4)
    page.get_by_label("Add by link").fill(internet.url("/slow-song.mp3"))
    page.get_by_role("button", name="Add", exact=True).click()

    expect(page.locator("#add-link-result")).to_contain_text("Added")
    song = Song.objects.get(source_url=internet.url("/slow-song.mp3"))
    row = page.locator(f"#song-{song.pk}")
    # At once, on top of the list, with its progress bar.
    expect(row.locator("progress")).to_be_visible()
    expect(page.locator("#song-list > li.song").first).to_have_id(f"song-{song.pk}")
    assert page.get_by_label("Add by link").input_value() == ""

    # Nothing polls: the row is pushed by the socket until the song is ready.
    assert row.get_attribute("hx-trigger") is None and row.get_attribute("hx-get") is None
    expect(page.locator(f"#song-{song.pk}-progress")).to_be_visible()
    expect(row.locator(".badge-ready")).to_be_visible(timeout=120_000)
    expect(row.locator("progress")).to_have_count(0)
    expect(row).to_contain_text("0:06")
    assert page.evaluate("window.stillTheSamePage") is True

    # The same link again says so and adds nothing.
    page.get_by_label("Add by link").fill(internet.url("/slow-song.mp3"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#add-link-result")).to_contain_text("Already in the library")
    expect(page.locator(f"#song-{song.pk}")).to_have_count(1)
    # Pushes about rows the search hid were dropped, not swapped blindly (htmx logs those).
    assert errors == []


def test_several_files_upload_each_with_its_progress_and_result(live_site, page, staff_user, tmp_path):
    first, second, bad = tmp_path / "first.mp3", tmp_path / "second.wav", tmp_path / "notes.mp3"
    first.write_bytes(make_audio(3.0))
    second.write_bytes(make_audio(3.0, fmt="wav", frequency=330))
    bad.write_bytes(b"not audio\n" * 100)
    sign_in(page, live_site, staff_user)
    page.goto(live_site.url + "/library/")
    page.locator("summary", has_text="Upload files").click()
    page.locator("#upload-file").set_input_files([first, second, bad])
    page.get_by_role("button", name="Upload", exact=True).click()

    items = page.locator("#upload-files li")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("first.mp3")
    expect(items.nth(0).locator(".notice")).to_contain_text("Added")
    expect(items.nth(1).locator(".notice")).to_contain_text("Added")
    expect(items.nth(2).locator(".error")).to_be_visible()
    expect(page.locator("#upload-files progress").first).to_have_attribute("value", "100")
    assert Song.objects.filter(title__in=["first", "second"]).count() == 2
