"""The Content-Security-Policy in a real browser: the pages, their WebSockets and their
scripts work under it, and nothing is refused (no inline script, no eval).

The other browser tests look past the policy (Playwright's wait_for_function needs eval);
these pages keep it, and wait by asking the page from outside instead.
"""

import time

import pytest
from playwright.sync_api import expect

from queue_app import services
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import COUNT_PUSHES, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Runs before the page's own scripts: every refusal of the policy is kept.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.violations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


def new_page(browser):
    page = browser.new_context().new_page()  # the policy in force
    page.set_default_timeout(15_000)
    page.add_init_script(RECORD_VIOLATIONS)
    page.add_init_script(COUNT_PUSHES)
    return page


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Like wait_for_function, without eval in the page: Playwright's own evaluation is not
    the page's script, and the policy does not apply to it."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still not true after {timeout} s: {expression}"
        page.wait_for_timeout(50)


def test_the_party_pages_work_under_the_policy(live_site, browser, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol",
                                                  is_host=True, is_staff=True)
    room = services.room_create(owner=carol, name="Friday")
    SongFactory(title="Dancing Queen", artist="ABBA", source=Song.Source.UPLOAD,
                status=Song.Status.READY, duration=200)
    code = room.code
    page = new_page(browser)
    sign_in(page, live_site, carol)
    for address in (f"/rooms/{code}/host/", "/library/", "/jobs/"):
        page.goto(live_site.url + address)
        wait_until(page, "window.pushes > 0")  # its WebSocket is up: the first message arrived
        assert page.evaluate("window.violations") == [], address
    page.goto(f"{live_site.url}/rooms/{code}/tv/")
    page.get_by_role("button", name="Start the TV").click()
    expect(page.locator("#tv-card-state")).to_be_visible()
    assert page.evaluate("window.violations") == []

    phone = new_page(browser)
    try:
        phone.goto(f"{live_site.url}/rooms/{code}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        wait_until(phone, "window.pushes > 0")
        phone.get_by_label("Search songs").press_sequentially("queen", delay=40)
        phone.locator(".hit").get_by_role("button", name="Add").click()
        expect(phone.locator(f"#my-songs-{code}")).to_contain_text("Dancing Queen")

        # Leaving asks first (data-confirm, static/js/encore.js: no inline onsubmit).
        phone.once("dialog", lambda dialog: dialog.dismiss())
        phone.get_by_role("button", name="Leave the room").click()
        expect(phone.locator(f"#my-songs-{code}")).to_be_visible()
        assert room.singers.get().left_at is None
        phone.once("dialog", lambda dialog: dialog.accept())
        phone.get_by_role("button", name="Leave the room").click()
        expect(phone.get_by_role("button", name="Join")).to_be_visible()
        assert phone.evaluate("window.violations") == []
    finally:
        phone.context.close()
        page.context.close()
