"""`manage.py createhost`: staff's other way to make a host."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_it_creates_a_host_who_can_sign_in(django_user_model):
    call_command("createhost", "carol", "--password", "a-long-party-password", "--display-name", "Carol")
    carol = django_user_model.objects.get(username="carol")
    assert carol.is_host and not carol.is_staff and carol.display_name == "Carol"
    assert carol.check_password("a-long-party-password") and carol.can_host


def test_it_makes_an_existing_user_a_host(singer_user):
    call_command("createhost", "bob")
    singer_user.refresh_from_db()
    assert singer_user.is_host


def test_it_refuses_a_weak_password():
    with pytest.raises(CommandError):
        call_command("createhost", "carol", "--password", "123")


def test_without_a_password_the_host_cannot_sign_in_with_one(django_user_model):
    call_command("createhost", "carol", "--no-input")
    assert not django_user_model.objects.get(username="carol").has_usable_password()
