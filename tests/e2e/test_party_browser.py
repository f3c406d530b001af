"""A party in real browsers: a guest joins from their phone and queues songs, the host's
page shows them without a reload, the host drags one to the top and the guest's page
follows, all through /ws/rooms/<code>/html/ on the live site."""

import pytest
from playwright.sync_api import expect

from queue_app import services
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import COUNT_PUSHES, open_live, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]

def entry_ids(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("items => items.map(item => item.dataset.entryId)")


def test_it_shows_a_guests_song_to_the_host_live_and_the_hosts_move_to_the_guest(
    live_site, page, browser, django_user_model
):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol",
                                                  is_host=True)
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    for title, artist in (("Dancing Queen", "ABBA"), ("Take On Me", "a-ha")):
        SongFactory(title=title, artist=artist, source=Song.Source.UPLOAD, status=Song.Status.READY,
                    duration=200)
    code = room.code

    sign_in(page, live_site, carol)
    open_live(page, f"{live_site.url}/rooms/{code}/host/")
    host_queue = page.locator(f"#host-queue-{code}")
    expect(host_queue).to_contain_text("The queue is empty")

    # The guest: their own browser (a phone), no account.
    phone_context = browser.new_context(bypass_csp=True)  # see the `page` fixture
    phone = phone_context.new_page()
    phone.set_default_timeout(15_000)
    phone.add_init_script(COUNT_PUSHES)
    try:
        phone.goto(f"{live_site.url}/rooms/{code.lower()}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        expect(phone.locator(f"#my-songs-{code}")).to_be_visible()
        phone.wait_for_function("window.pushes > 0")  # the room's state arrived: the WebSocket is up
        phone.evaluate("window.stillTheSamePage = true")

        phone.get_by_label("Search songs").press_sequentially("queen", delay=40)
        expect(phone.locator(".hit")).to_have_count(1)
        phone.locator(".hit").get_by_role("button", name="Add").click()
        expect(phone.locator(".hit .notice")).to_contain_text("Added “Dancing Queen”")
        expect(phone.locator(f"#my-songs-{code}")).to_contain_text("You're up next!")

        # The host's page, without a reload.
        expect(host_queue).to_contain_text("Dancing Queen")
        expect(host_queue).to_contain_text("Gus")

        phone.get_by_label("Search songs").fill("take on")
        expect(phone.locator(".hit")).to_have_count(1)
        expect(phone.locator(".hit")).to_contain_text("Take On Me")
        phone.locator(".hit").get_by_role("button", name="Add").click()
        expect(host_queue.locator(".queue-entry")).to_have_count(2)
        queen, take = entry_ids(page, f"#host-queue-{code} .queue-entry")
        expect(host_queue.locator(f"#host-entry-{take}")).to_contain_text("Take On Me")
        assert entry_ids(phone, f"#queue-{code} .queue-entry") == [queen, take]

        # The host drags "Take On Me" above "Dancing Queen".
        page.locator(f"#host-entry-{take} .drag-handle").drag_to(page.locator(f"#host-entry-{queen} .drag-handle"))
        expect(host_queue.locator(".queue-entry").first).to_have_attribute("data-entry-id", take)
        expect(host_queue.locator(f"#host-entry-{take}")).to_contain_text("moved")

        # The guest's page follows, without a reload.
        expect(phone.locator(f"#queue-{code} .queue-entry").first).to_have_attribute("data-entry-id", take)
        assert entry_ids(phone, f"#queue-{code} .queue-entry") == [take, queen]
        expect(phone.locator(f"#my-songs-{code} .mine").first).to_contain_text("Take On Me")

        # The host plays: both pages show it playing.
        page.get_by_role("button", name="Play", exact=True).click()
        expect(page.locator(f"#now-playing-{code}")).to_contain_text("Take On Me")
        expect(phone.locator(f"#now-playing-{code}")).to_contain_text("Playing")

        assert page.evaluate("window.stillTheSamePage") is True
        assert phone.evaluate("window.stillTheSamePage") is True

        # A push that arrives late (an older version) does not undo a newer one; a newer one wins.
        swap = "html => htmx.swap(document.body, html, {swapStyle: 'none'})"
        phone.evaluate(swap, f'<section id="queue-{code}" data-version="1" hx-swap-oob="true">late</section>')
        assert entry_ids(phone, f"#queue-{code} .queue-entry") == [queen]
        phone.evaluate(swap, f'<section id="queue-{code}" data-version="999999" hx-swap-oob="true">newer</section>')
        expect(phone.locator(f"#queue-{code}")).to_have_text("newer")
    finally:
        phone_context.close()
