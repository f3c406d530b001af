"""The party in the admin: rooms, entries, and the host flag on users."""

import pytest

from queue_app import services
from queue_app.access import actor_for
from songs.models import Song

pytestmark = pytest.mark.django_db


def test_the_admin_pages_load_with_a_party(admin_client, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
    room = services.room_create(owner=carol, name="Friday")
    gus = services.singer_join(room=room, display_name="Gus")[0]
    song = Song.objects.create(title="Hello", source=Song.Source.UPLOAD, status=Song.Status.READY)
    entry = services.queue_add(room=room, actor=actor_for(room, token=gus.token), song=song)
    for url in (
        "/admin/queue_app/room/", f"/admin/queue_app/room/{room.pk}/change/", "/admin/queue_app/queueentry/",
        f"/admin/queue_app/queueentry/{entry.pk}/change/", "/admin/accounts/user/?is_host__exact=1",
        f"/admin/accounts/user/{carol.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert b"Friday" in admin_client.get("/admin/queue_app/room/").content
