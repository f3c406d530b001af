"""First run: the host's account is made in the browser, on the machine itself, once."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

HERE = {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000"}
FORM = {"username": "carol", "display_name": "Carol", "password1": "karaoke-night-42", "password2": "karaoke-night-42"}


def test_the_first_visit_on_this_machine_makes_the_host_account():
    client = Client()
    assert client.get("/", **HERE).url == "/accounts/welcome/"
    page = client.get("/accounts/welcome/", **HERE)
    assert page.status_code == 200 and "Create the host account" in page.content.decode()
    done = client.post("/accounts/welcome/", FORM, **HERE)
    assert done.status_code == 302 and done.url == "/rooms/"
    carol = User.objects.get(username="carol")
    assert carol.is_staff and carol.is_superuser and carol.is_host and carol.check_password(FORM["password1"])
    assert client.get("/rooms/", **HERE).status_code == 200  # signed in
    # Gone once a host exists, and the home page is the home page again.
    assert Client().get("/accounts/welcome/", **HERE).status_code == 404
    assert Client().get("/", **HERE).status_code == 200


@pytest.mark.parametrize("where", [
    {"REMOTE_ADDR": "192.168.1.23", "HTTP_HOST": "192.168.1.10:8000"},  # a phone on the Wi-Fi
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "party.example.com"},  # through a proxy on this machine
])
def test_it_is_not_there_for_anyone_else(where):
    assert Client().get("/accounts/welcome/", **where).status_code == 404
    assert Client().post("/accounts/welcome/", FORM, **where).status_code == 404
    assert Client().get("/", **where).status_code == 200
    assert not User.objects.exists()


def test_a_weak_password_is_refused_and_nothing_is_made():
    answer = Client().post("/accounts/welcome/", {**FORM, "password1": "123", "password2": "123"}, **HERE)
    assert answer.status_code == 400 and not User.objects.exists()


def test_it_is_gone_once_any_staff_account_exists(django_user_model):
    django_user_model.objects.create_user(username="admin", password="x" * 12, is_staff=True)
    assert Client().get("/accounts/welcome/", **HERE).status_code == 404
