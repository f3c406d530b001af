"""Songs on demand: a singer requests a YouTube video, the host approves or denies, the
song is imported and queued for the singer, and the singer follows it to ready.

The real yt-dlp searches a local stand-in for YouTube (tests/youtube.py); what a search
found is what a request from it knows (title, channel, length). Nothing here downloads
from YouTube: the jobs are created, not run (tests/test_request_rotation.py runs them).
"""

import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from jobs import services as job_services
from jobs.models import Job
from queue_app import services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room, SongRequest
from songs import imports
from songs import services as song_services
from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.internet import LocalInternet, closed_port
from tests.youtube import Video, point_ytdlp_at, serve_search, serve_unavailable

# Transactional: imports enqueue their job, and the rooms order the jobs, on commit.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "3:51",
              "https://i.ytimg.com/vi/xFrGuyw1V8s/hqdefault.jpg")
EPIC = Video("Nt6Vc5rqmO8", "The Whole Opera (Live)", "Someone", "1:02:05")
SNEAKY = Video("aaaaaaaaaaa", "Waterloo <script>", "Other", "2:50", "https://images.example/x.jpg")


@pytest.fixture
def youtube(monkeypatch):
    with LocalInternet(tls=True) as net:
        serve_search(net, [QUEEN, EPIC, SNEAKY])
        point_ytdlp_at(monkeypatch, net.host)
        yield net


@pytest.fixture
def q():
    query = f"dancing queen {uuid.uuid4().hex[:8]}"
    yield query
    cache.delete_many([youtube_search_cache_key(query, limit) for limit in range(1, 21)])
    cache.delete_many([f"youtube-video:{video.id}" for video in (QUEEN, EPIC, SNEAKY)])


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday")


@pytest.fixture
def hosting(carol):
    client = Client()
    client.force_login(carol)
    return client


class Guest:
    """A phone that joined through the API: its token is all it has."""

    def __init__(self, room: Room, name: str):
        self.client = Client()
        response = self.client.post(f"/api/rooms/{room.code}/join", {"display_name": name},
                                    content_type="application/json")
        assert response.status_code == 201, response.content
        self.token = response.json()["token"]
        self.code = room.code

    def _headers(self):
        return {"HTTP_X_SINGER_TOKEN": self.token}

    def search(self, q):
        return self.client.get(f"/api/rooms/{self.code}/youtube", {"q": q}, **self._headers())

    def request(self, video):
        return self.client.post(f"/api/rooms/{self.code}/requests", {"video": video},
                                content_type="application/json", **self._headers())

    def requests(self):
        return self.client.get(f"/api/rooms/{self.code}/requests", **self._headers())

    def cancel(self, request_id):
        return self.client.delete(f"/api/rooms/{self.code}/requests/{request_id}", **self._headers())

    def decide(self, request_id, action, reason=""):
        return self.client.patch(f"/api/rooms/{self.code}/requests/{request_id}", {"action": action, "reason": reason},
                                 content_type="application/json", **self._headers())


def decide(client, room, request_id, action, reason=""):
    return client.patch(f"/api/rooms/{room.code}/requests/{request_id}", {"action": action, "reason": reason},
                        content_type="application/json")


def test_a_guest_finds_a_video_requests_it_and_the_host_approves(room, hosting, youtube, q, queued, listen):
    ann = Guest(room, "Ann")
    found = ann.search(q)
    assert found.status_code == 200
    hits = {hit["id"]: hit for hit in found.json()}
    assert hits[QUEEN.id]["duration"] == 231 and hits[QUEEN.id]["channel"] == "ABBA"
    assert hits[SNEAKY.id]["thumbnail"] is None  # only YouTube's image hosts are shown

    recorder = listen(f"room.{room.code}")
    asked = ann.request(f"https://youtu.be/{QUEEN.id}")
    assert asked.status_code == 201, asked.content
    body = asked.json()
    assert (body["status"], body["title"], body["duration"]) == ("pending", QUEEN.title, 231)
    assert Song.objects.count() == 0 and Job.objects.count() == 0
    assert recorder.types() == ["request.changed"]

    recorder = listen(f"room.{room.code}")  # a recorder drains once (one event loop each)
    answer = decide(hosting, room, body["id"], "approve")
    assert answer.status_code == 200, answer.content
    approved = answer.json()
    song = Song.objects.get(source=Song.Source.YOUTUBE, source_id=QUEEN.id)
    assert approved["status"] == "approved" and approved["song"] == str(song.pk)
    # Shown with what the search said until the download knows better.
    assert (song.title, song.duration) == (QUEEN.title, 231)
    entry = QueueEntry.objects.get(pk=approved["entry"])
    assert (entry.singer.display_name, entry.song, entry.status) == ("Ann", song, "waiting")
    assert Job.objects.filter(song=song).count() == 1
    assert queued[-1][0] == "songs.tasks.run_job"
    assert approved["progress"]["stage"] == "download" and approved["ready_in_seconds"] > 0
    assert sorted(recorder.types()) == ["player.state", "queue.changed", "request.changed"]

    # The song became ready: the request says so.
    song_services.song_mark_ready(song=song)
    assert SongRequest.objects.get(pk=body["id"]).status == "ready"
    assert ann.requests().json()[0]["status"] == "ready"


def test_a_second_request_for_the_same_video_reuses_its_song(room, hosting, youtube, q, queued):
    ann, ben = Guest(room, "Ann"), Guest(room, "Ben")
    ann.search(q)
    first, second = ann.request(QUEEN.id).json(), ben.request(QUEEN.id).json()
    decide(hosting, room, first["id"], "approve")
    decide(hosting, room, second["id"], "approve")
    assert Song.objects.count() == 1 and Job.objects.count() == 1
    assert QueueEntry.objects.filter(song__source_id=QUEEN.id).count() == 2


def test_auto_rooms_approve_at_once_and_library_songs_need_no_approval(room, carol, youtube, q, queued):
    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.AUTO)
    room.refresh_from_db()
    ann = Guest(room, "Ann")
    ann.search(q)
    assert ann.request(QUEEN.id).json()["status"] == "approved"

    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.HOST)
    Song.objects.create(title="Waterloo", source=Song.Source.YOUTUBE, source_id=SNEAKY.id, status=Song.Status.READY,
                        source_url=f"https://www.youtube.com/watch?v={SNEAKY.id}", duration=170)
    body = Guest(room, "Ben").request(SNEAKY.id).json()
    assert body["status"] == "ready" and QueueEntry.objects.filter(pk=body["entry"]).exists()


def test_the_host_denies_with_a_reason_and_the_singer_is_told(room, hosting, youtube, q, listen):
    ann = Guest(room, "Ann")
    ann.search(q)
    body = ann.request(QUEEN.id).json()
    recorder = listen(f"room.{room.code}")
    answer = decide(hosting, room, body["id"], "deny", "Not tonight")
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["reason"]) == ("denied", "Not tonight")
    [event] = recorder.drain()
    assert (event["type"], event["request"]["status"]) == ("request.changed", "denied")
    assert decide(hosting, room, body["id"], "approve").status_code == 409
    assert Song.objects.count() == 0


@pytest.mark.parametrize("video", [
    "https://songs.example/track.mp3",
    "file:///etc/passwd",
    "http://127.0.0.1:{port}/",
    "https://bit.ly/3abcdef",  # a redirecting link: not YouTube, so never fetched
    "https://www.youtube.com.evil.example/watch?v=xFrGuyw1V8s",
    "not a video",
])
def test_a_guest_can_request_only_youtube_videos(room, youtube, video):
    ann = Guest(room, "Ann")
    video = video.format(port=closed_port())
    answer = ann.request(video)
    assert answer.status_code == 400
    assert "Only YouTube videos" in answer.json()["message"]
    assert SongRequest.objects.count() == 0
    assert ann.search(video).status_code in (400, 200) and SongRequest.objects.count() == 0
    if "://" in video:
        assert ann.search(video).status_code == 400


def test_refusals_say_why_and_store_nothing(room, carol, hosting, youtube, q):
    ann = Guest(room, "Ann")
    ann.search(q)
    too_long = ann.request(EPIC.id)
    assert too_long.status_code == 400 and "at most 10 min" in too_long.json()["message"]
    assert ann.request(QUEEN.id).status_code == 201
    assert ann.request(QUEEN.id).status_code == 409  # the same video twice
    Room.objects.filter(pk=room.pk).update(max_pending_requests=1)
    third = ann.request(SNEAKY.id)
    assert third.status_code == 409 and "waiting for the host" in third.json()["message"]
    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.OFF)
    off = Guest(room, "Ben").request(SNEAKY.id)
    assert off.status_code == 403 and "takes no requests" in off.json()["message"]
    assert SongRequest.objects.count() == 1


def test_who_may_do_what(room, carol, hosting, youtube, q, django_user_model):
    ann, ben = Guest(room, "Ann"), Guest(room, "Ben")
    ann.search(q)
    mine = ann.request(QUEEN.id).json()
    # A singer cannot answer requests, nor cancel another's.
    assert ann.decide(mine["id"], "approve").status_code == 403
    assert ben.cancel(mine["id"]).status_code == 403
    # Singers see their own requests; the host sees all.
    assert ben.requests().json() == []
    assert [r["id"] for r in hosting.get(f"/api/rooms/{room.code}/requests").json()] == [mine["id"]]
    # A singer of another room sees nothing here and can do nothing.
    other = services.room_create(owner=carol, name="Elsewhere")
    stranger = Guest(other, "Zed")
    stranger.code = room.code
    assert stranger.requests().status_code == 403
    assert stranger.cancel(mine["id"]).status_code == 403
    assert stranger.decide(mine["id"], "approve").status_code == 403
    assert stranger.request(QUEEN.id).status_code == 403
    # Anonymous: nothing either.
    assert Client().get(f"/api/rooms/{room.code}/requests").status_code == 403
    # The requester takes it back while it is pending.
    assert ann.cancel(mine["id"]).status_code == 204
    assert SongRequest.objects.get(pk=mine["id"]).status == "cancelled"
    assert ann.cancel(mine["id"]).status_code == 409


def test_leaving_the_room_cancels_pending_requests(room, youtube, q):
    ann = Guest(room, "Ann")
    ann.search(q)
    body = ann.request(QUEEN.id).json()
    left = ann.client.post(f"/api/rooms/{room.code}/leave", **ann._headers())
    assert left.status_code == 204
    request = SongRequest.objects.get(pk=body["id"])
    assert (request.status, request.reason) == ("cancelled", "The singer left the room.")


def test_a_failed_import_fails_the_request_with_its_reason_and_drops_its_entry(room, hosting, youtube, q, queued):
    ann = Guest(room, "Ann")
    ann.search(q)
    body = ann.request(QUEEN.id).json()
    approved = decide(hosting, room, body["id"], "approve").json()
    job = Job.objects.get(song_id=approved["song"])
    claimed = job_services.job_claim(job_id=job.pk, worker="test:1")
    job_services.job_fail(job=claimed, code="unavailable", message="YouTube says: Video unavailable.")
    request = SongRequest.objects.get(pk=body["id"])
    assert (request.status, request.reason) == ("failed", "YouTube says: Video unavailable.")
    assert not QueueEntry.objects.filter(pk=approved["entry"]).exists()


def test_searches_are_limited_per_singer(room, youtube, q, settings):
    settings.YOUTUBE_SEARCHES_PER_MINUTE = 3
    ann, ben = Guest(room, "Ann"), Guest(room, "Ben")
    assert [ann.search(q).status_code for _ in range(3)] == [200, 200, 200]
    refused = ann.search(q)
    assert refused.status_code == 429 and "try again in a minute" in refused.json()["message"]
    assert ben.search(q).status_code == 200
    assert ann.search("ab").status_code == 400  # too short to search


def test_the_room_settings_hold_the_request_rules(room, hosting):
    answer = hosting.patch(f"/api/rooms/{room.code}", {"requests": "auto", "request_max_minutes": 6,
                                                      "max_pending_requests": 4}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["requests"], answer.json()["request_max_minutes"]) == ("auto", 6)
    bad = hosting.patch(f"/api/rooms/{room.code}", {"requests": "always"}, content_type="application/json")
    assert bad.status_code == 400
    assert Room.objects.get(pk=room.pk).max_pending_requests == 4


def test_a_library_import_keeps_its_place_behind_queued_songs(room, internet, queued):
    """Jobs with no queue entry wait last; a queued song's job gets its turn's priority."""
    library = imports.song_import_url(url=internet.url("/library.mp3"))
    ann = services.singer_join(room=room, display_name="Ann")[0]
    wanted = imports.song_import_url(url=internet.url("/wanted.mp3"))
    services.queue_add(room=room, actor=actor_for(room, token=ann.token), song=wanted.song)
    library.job.refresh_from_db()
    wanted.job.refresh_from_db()
    assert library.job.priority == Job.PRIORITY_LAST
    assert wanted.job.priority < Job.PRIORITY_LAST


def test_requests_are_limited_per_singer(room, youtube, q, settings):
    settings.THROTTLE_REQUESTS = (2, 3600)
    ann, ben = Guest(room, "Ann"), Guest(room, "Ben")
    ann.search(q)
    first = ann.request(QUEEN.id).json()
    assert ann.cancel(first["id"]).status_code == 204
    assert ann.request(QUEEN.id).status_code == 201
    refused = ann.request(SNEAKY.id)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert ben.request(SNEAKY.id).status_code == 201


def test_a_video_youtube_will_not_play_is_refused_and_kept_as_a_failed_request(room, monkeypatch, listen):
    with LocalInternet(tls=True) as net:
        point_ytdlp_at(monkeypatch, net.host)
        serve_unavailable(net, "G0neG0neG0n", reason="This video has been removed by the uploader")
        ann = Guest(room, "Ann")
        recorder = listen(f"room.{room.code}")
        answer = ann.request("https://youtu.be/G0neG0neG0n")
    assert answer.status_code == 400 and "removed by the uploader" in answer.json()["message"]
    # Nothing to download: no song, no job, no entry; the singer's list says why.
    assert Song.objects.count() == 0 and Job.objects.count() == 0 and QueueEntry.objects.count() == 0
    request = SongRequest.objects.get()
    assert (request.status, request.video_id) == ("failed", "G0neG0neG0n")
    assert "removed by the uploader" in request.reason
    [event] = recorder.drain()
    assert (event["type"], event["request"]["status"]) == ("request.changed", "failed")
    # A failed request is not one waiting for the host: it takes none of the singer's places.
    assert ann.requests().json()[0]["status"] == "failed"
