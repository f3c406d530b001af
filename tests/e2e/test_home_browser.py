"""A host opens the site in a real browser and signs in."""

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_host_signs_in_from_the_home_page(live_site, page, staff_user):
    page.goto(live_site.url + "/")
    assert page.title() == "Encore"
    assert page.locator("h1").inner_text() == "Encore"

    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("a-long-party-password")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(live_site.url + "/")
    assert "Signed in as Alice" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Admin").is_visible()
    # htmx is served from our own static files, not a CDN.
    assert page.evaluate("typeof htmx") == "object"


def test_a_wrong_password_is_refused_with_a_message(live_site, page, staff_user):
    page.goto(live_site.url + "/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Sign in").click()
    assert "didn't match" in page.locator("main").inner_text()
