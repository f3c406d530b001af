"""Every page, at a phone's size and a desktop's: axe-core finds no serious or critical
WCAG 2.1 A/AA problem, and every control of the singer, host and TV pages is at least
44 x 44 CSS px on a phone (a thumb's size)."""

import pytest
from django.test import Client

from queue_app import services
from queue_app.access import actor_for
from tests.factories import SongFactory
from tests.helpers import axe_violations, session_cookies, small_touch_targets

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def party(live_site, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol",
                                                  is_host=True, is_staff=True)
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    songs = [SongFactory(ready=True, title=title, artist="ABBA") for title in ("Waterloo", "SOS", "Fernando")]
    guest = Client()
    joined = guest.post(f"/api/rooms/{room.code}/join", {"display_name": "Ann"}, content_type="application/json")
    ann = room.singers.get(pk=joined.json()["id"])
    for song in songs[:2]:
        services.queue_add(room=room, actor=actor_for(room, token=ann.token), song=song)
    return {"site": live_site, "carol": carol, "room": room,
            "guest_cookies": {name: morsel.value for name, morsel in guest.cookies.items()}}


def visit(page, party, path: str, *, who: str | None) -> None:
    cookies = {"carol": session_cookies(party["carol"]), "guest": party["guest_cookies"]}.get(who or "", {})
    page.context.clear_cookies()
    if cookies:
        page.context.add_cookies([{"name": k, "value": v, "url": party["site"].url} for k, v in cookies.items()])
    answer = page.goto(party["site"].url + path)
    assert answer.status < 400, (path, answer.status)
    page.wait_for_load_state("networkidle")


PAGES = [
    ("/", None), ("/accounts/login/", None), ("/accounts/signup/", None), ("/rooms/", "carol"),
    ("/rooms/{code}/", "guest"), ("/rooms/{code}/host/", "carol"), ("/rooms/{code}/tv/", "carol"),
    ("/library/", "carol"), ("/jobs/", "carol"), ("/accounts/profile/", "carol"),
]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_page_has_a_serious_accessibility_problem(party, page, size):
    page.set_viewport_size(size)
    found = {}
    for path, who in PAGES:
        visit(page, party, path.format(code=party["room"].code), who=who)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert found == {}


@pytest.mark.parametrize("path,who", [("/rooms/{code}/", "guest"), ("/rooms/{code}/host/", "carol"),
                                      ("/rooms/{code}/tv/", "carol")], ids=["singer", "host", "tv"])
def test_every_control_is_big_enough_for_a_thumb(party, page, path, who):
    page.set_viewport_size(PHONE)
    visit(page, party, path.format(code=party["room"].code), who=who)
    if "/tv/" in path:
        page.get_by_role("button", name="Start the TV").click()
        page.mouse.move(100, 100)  # the controls show while the mouse moves
    small = small_touch_targets(page)
    assert small == [], "\n".join(f"{name}: {box}" for name, box in small)
