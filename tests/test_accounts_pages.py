"""Accounts: sign up, sign in, the profile with the songs you have sung, and a guest's
songs following them into their new account.

Personas: Alice (staff, conftest), Bob (a singer with an account, conftest), Carol (a host
who runs the rooms, conftest), and Gus, who joins from his phone as a guest and signs up later.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import services as account_services
from common.errors import Conflict
from queue_app import selectors, services
from queue_app.access import SESSION_KEY, actor_for
from queue_app.models import QueueEntry, Room, Singer
from tests.factories import RoomFactory, SongFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
GOOD_PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def room(carol) -> Room:
    return RoomFactory(owner=carol, name="Friday", max_waiting_per_singer=None)


@pytest.fixture
def other_room(carol) -> Room:
    return RoomFactory(owner=carol, name="Saturday", max_waiting_per_singer=None)


def join(client: Client, room: Room, name: str = "Gus") -> dict:
    response = client.post(f"/api/rooms/{room.code}/join", {"display_name": name}, content_type="application/json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def queue(client: Client, room: Room, title: str) -> dict:
    response = client.post(f"/api/rooms/{room.code}/queue", {"song": str(SongFactory(title=title, ready=True).pk)}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def queue_titles(client: Client, room: Room) -> list[tuple[str, str]]:
    response = client.get(f"/api/rooms/{room.code}/queue")
    assert response.status_code == 200, response.content
    return [(item["singer"]["name"], item["song"]["title"]) for item in response.json()]


def sign_up(client: Client, username: str = "gus", **fields):
    data = {"username": username, "display_name": "Gus", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD, **fields}
    return client.post("/accounts/signup/", data)


def sing(room: Room, *, times: int = 1) -> None:
    """The host's TV presses "next" `times` times (the first starts a song, each other ends one)."""
    host = actor_for(room, user=room.owner)
    for _ in range(times):
        services.player_next(room=room, actor=host)


def messages_of(response) -> str:
    return " ".join(re.findall(r'<ul class="messages">(.*?)</ul>', response.content.decode(), re.S))


# --- sign up -------------------------------------------------------------------------------


def test_it_signs_up_a_new_singer_and_signs_them_in():
    client = Client()
    assert client.get("/accounts/signup/").status_code == 200
    response = sign_up(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    user = User.objects.get(username="gus")
    assert user.display_name == "Gus" and user.check_password(GOOD_PASSWORD)
    assert not user.is_staff and not user.is_host
    profile = client.get("/accounts/profile/")
    assert profile.status_code == 200 and "Welcome, Gus!" in profile.content.decode()


def test_it_refuses_a_taken_username_in_any_case_with_400(singer_user):
    for username in ("bob", "BOB"):
        response = sign_up(Client(), username)
        assert response.status_code == 400
        assert "A user with that username already exists." in response.content.decode()
    assert User.objects.filter(username__iexact="bob").count() == 1


def test_it_refuses_passwords_that_differ_with_400():
    response = sign_up(Client(), password2=GOOD_PASSWORD + "!")
    assert response.status_code == 400
    assert "The two password fields didn" in response.content.decode()
    assert not User.objects.filter(username="gus").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("zq8#", "This password is too short"),
        ("password123", "This password is too common"),
        ("gus-the-singer", "The password is too similar to the username"),
        ("83749201746", "This password is entirely numeric"),
    ],
)
def test_it_refuses_a_weak_password_with_400_and_says_why(password, message):
    response = sign_up(Client(), "gus-the-singer", password1=password, password2=password)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(username="gus-the-singer").exists()


def test_it_refuses_an_empty_form_with_400():
    response = Client().post("/accounts/signup/", {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_it_sends_a_signed_in_user_from_sign_up_to_their_profile(singer_user):
    client = Client()
    client.force_login(singer_user)
    assert client.get("/accounts/signup/")["Location"] == "/accounts/profile/"
    assert sign_up(client, "another").status_code == 302
    assert not User.objects.filter(username="another").exists()


def test_it_goes_back_where_the_guest_was_but_never_off_site():
    back = sign_up(Client(), "gus", next="/rooms/")
    assert back["Location"] == "/rooms/"
    away = sign_up(Client(), "gus2", next="https://evil.example/")
    assert away["Location"] == "/accounts/profile/"


def test_the_nav_offers_sign_up_to_visitors_and_the_profile_to_users(singer_user):
    visitor = Client().get("/").content.decode()
    assert 'href="/accounts/signup/"' in visitor and 'href="/accounts/profile/"' not in visitor
    client = Client()
    client.force_login(singer_user)
    member = client.get("/").content.decode()
    assert 'href="/accounts/profile/"' in member and 'href="/accounts/signup/"' not in member


def test_a_wrong_password_is_a_400_with_a_message(singer_user):
    response = Client().post("/accounts/login/", {"username": "bob", "password": "not-it"})
    assert response.status_code == 400 and "didn't match" in response.content.decode()


# --- the profile ---------------------------------------------------------------------------


def test_the_profile_needs_a_signed_in_user():
    response = Client().get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/accounts/profile/")


def test_it_edits_the_display_name(singer_user):
    client = Client()
    client.force_login(singer_user)
    response = client.post("/accounts/profile/", {"display_name": "  Bobby  "}, follow=True)
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert "Your display name is saved." in response.content.decode()
    singer_user.refresh_from_db()
    assert singer_user.display_name == "Bobby"

    for bad in ({"display_name": "   "}, {"display_name": "x" * 81}, {}):
        refused = client.post("/accounts/profile/", bad)
        assert refused.status_code == 400
        assert re.search(r'class="error field-errors"', refused.content.decode())
    singer_user.refresh_from_db()
    assert singer_user.display_name == "Bobby"


def test_it_lists_the_songs_you_have_sung_across_rooms_newest_first(singer_user, room, other_room):
    bob_here = services.singer_join(room=room, user=singer_user)[0]
    bob_there = services.singer_join(room=other_room, user=singer_user)[0]
    someone = services.singer_join(room=room, display_name="Someone")[0]
    for singer, title in ((bob_here, "Take On Me"), (someone, "Not Bob's"), (bob_here, "Waterloo")):
        services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=SongFactory(title=title, ready=True))
    sing(room, times=4)  # Take On Me, Not Bob's, Waterloo: all sung, nothing plays after
    services.queue_add(room=other_room, actor=actor_for(other_room, token=bob_there.token), song=SongFactory(title="Dancing Queen", artist="ABBA", ready=True))
    sing(other_room, times=2)
    services.queue_add(room=other_room, actor=actor_for(other_room, token=bob_there.token), song=SongFactory(title="Still waiting", ready=True))
    skipped = services.queue_add(room=room, actor=actor_for(room, token=bob_here.token), song=SongFactory(title="Skipped one", ready=True))
    sing(room)  # starts it
    services.player_skip(room=room, actor=actor_for(room, user=room.owner))
    assert QueueEntry.objects.get(pk=skipped.pk).status == QueueEntry.Status.SKIPPED

    client = Client()
    client.force_login(singer_user)
    html = client.get("/accounts/profile/").content.decode()
    titles = re.findall(r'<li id="sung-\d+".*?<strong>(.*?)</strong>', html, re.S)
    assert titles == ["Dancing Queen", "Waterloo", "Take On Me"]
    assert "Saturday (" + other_room.code + ")" in html and "Friday (" + room.code + ")" in html
    assert "ABBA" in html


def test_an_empty_history_says_so(singer_user):
    client = Client()
    client.force_login(singer_user)
    assert "Nothing yet" in client.get("/accounts/profile/").content.decode()


# --- a guest's songs follow them -----------------------------------------------------------


def test_a_guest_who_signs_up_keeps_their_songs_and_their_place(room):
    gus_phone, ann_phone = Client(), Client()
    gus = join(gus_phone, room, "Gus")
    join(ann_phone, room, "Ann")
    queue(gus_phone, room, "Gus first")
    queue(ann_phone, room, "Ann first")
    queue(gus_phone, room, "Gus second")
    before = queue_titles(gus_phone, room)

    response = sign_up(gus_phone, "gus")
    assert response.status_code == 302
    user = User.objects.get(username="gus")
    singer = Singer.objects.get(pk=gus["id"])
    assert singer.user == user and singer.token == gus["token"]
    assert "are now in your account" in messages_of(gus_phone.get("/accounts/profile/"))
    # The same singer, in the same place in the rotation, with the same songs.
    assert queue_titles(gus_phone, room) == before
    assert gus_phone.post(f"/api/rooms/{room.code}/join", {}, content_type="application/json").json()["id"] == gus["id"]
    # The session still knows the room (the token did not change).
    assert gus_phone.session[SESSION_KEY] == {room.code: gus["token"]}
    # Another device signed in as Gus is the same singer too.
    laptop = Client()
    laptop.force_login(user)
    assert laptop.post(f"/api/rooms/{room.code}/join", {}, content_type="application/json").json()["id"] == gus["id"]

    sing(room, times=2)  # "Gus first" is sung
    history = gus_phone.get("/accounts/profile/").content.decode()
    assert "Gus first" in history and "Ann first" not in history


def test_signing_in_claims_the_guest_singers_of_rooms_where_the_user_has_none(singer_user, room, other_room):
    phone = Client()
    here = join(phone, room, "Bobby")
    there = join(phone, other_room, "Bobby")
    queue(phone, room, "Queued as a guest")

    response = phone.post("/accounts/login/", {"username": "bob", "password": "bobs-long-password"})
    assert response.status_code == 302
    assert set(Singer.objects.filter(user=singer_user).values_list("pk", flat=True)) == {here["id"], there["id"]}
    assert phone.session[SESSION_KEY] == {room.code: here["token"], other_room.code: there["token"]}
    assert queue_titles(phone, room) == [("Bobby", "Queued as a guest")]


def test_signing_in_leaves_the_guest_singer_where_the_user_already_sings(singer_user, room):
    own = services.singer_join(room=room, user=singer_user)[0]
    services.queue_add(room=room, actor=actor_for(room, user=singer_user), song=SongFactory(title="Bob's own", ready=True))
    phone = Client()
    guest = join(phone, room, "Bobby")
    queue(phone, room, "Bobby's")

    response = phone.post("/accounts/login/", {"username": "bob", "password": "bobs-long-password"}, follow=True)
    assert response.status_code == 200
    assert "stays under the guest" in messages_of(response)
    assert Singer.objects.get(pk=guest["id"]).user is None  # left as it was
    assert Singer.objects.get(pk=own.pk).user == singer_user
    # This browser is now the account's singer in that room.
    assert room.code not in phone.session.get(SESSION_KEY, {})
    assert phone.post(f"/api/rooms/{room.code}/join", {}, content_type="application/json").json()["id"] == own.pk
    assert [t for _, t in queue_titles(phone, room)] == ["Bob's own", "Bobby's"]


def test_the_claim_takes_one_singer_per_room_and_only_guests(singer_user, django_user_model, room, other_room):
    first = services.singer_join(room=room, display_name="Guest one")[0]
    second = services.singer_join(room=room, display_name="Guest two")[0]
    dave = django_user_model.objects.create_user(username="dave", password="x" * 12)
    daves = services.singer_join(room=other_room, user=dave)[0]

    claim = services.singer_claim_for_user(
        user=singer_user, tokens=[first.token, second.token, daves.token, "no-such-token", ""]
    )
    assert [s.pk for s in claim.claimed] == [first.pk]
    assert [s.pk for s in claim.kept] == [second.pk]
    assert Singer.objects.get(pk=second.pk).user is None
    assert Singer.objects.get(pk=daves.pk).user == dave
    # Again: nothing left to claim, and nothing breaks.
    again = services.singer_claim_for_user(user=singer_user, tokens=[first.token, second.token])
    assert again.claimed == [] and [s.pk for s in again.kept] == [second.pk]
    assert selectors.singer_payload(Singer.objects.get(pk=first.pk))["is_guest"] is False


def test_two_sign_ups_racing_for_one_username_get_a_message_not_a_500(monkeypatch):
    account_services.user_sign_up(username="gus", password=GOOD_PASSWORD)
    with pytest.raises(Conflict):
        account_services.user_sign_up(username="gus", password=GOOD_PASSWORD)
    # Through the page: the form's own checks passed (the other sign-up was not saved yet).
    monkeypatch.setattr("accounts.forms.SignUpForm.clean_username", lambda form: form.cleaned_data["username"])
    monkeypatch.setattr("accounts.forms.SignUpForm.validate_unique", lambda form: None)
    response = sign_up(Client(), "gus")
    assert response.status_code == 400 and "was taken a moment ago" in response.content.decode()
    assert User.objects.filter(username="gus").count() == 1
