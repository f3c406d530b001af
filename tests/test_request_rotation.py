"""Work waiting for a cluster runs in rotation order: the song sung soonest is prepared
first, library imports after every queued song, whatever order the broker delivers.

The tasks are delivered in the order they were enqueued (the in-process stand-in for
the broker), which is the worst case: the library import first, then the songs in the
reverse of their turns. Each task runs the waiting job of its cluster that is due
soonest (jobs.services.job_claim_next), so the order comes from the jobs table.
"""

import time

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token

from jobs.models import Job, JobLog
from queue_app import requests as song_requests
from queue_app import selectors, services
from queue_app.access import actor_for
from queue_app.models import SongRequest
from songs import imports
from songs.models import Song
from songs.pipeline import runner
from tests.helpers import make_audio, start_site
from tests.internet import LocalInternet
from tests.youtube import Video, point_ytdlp_at, serve_video

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


def claims(cluster_stage: str) -> list[str]:
    """Whose song each claim at `cluster_stage` was for, in order."""
    rows = JobLog.objects.filter(event="claimed", stage=cluster_stage).order_by("at", "id").select_related("job__song")
    return [row.job.song.title for row in rows]


def deliver_in_order(broker, settings) -> None:
    """Run every task in the order it was enqueued (the broker stand-in), until none is left."""
    for _ in range(40):
        if not broker.tasks:
            break
        func, (job_id, cluster), _ = broker.tasks.pop(0)
        assert func == settings.JOBS_TASK
        runner.run_job(job_id=job_id, cluster=cluster)


def test_separation_runs_in_the_order_the_rotation_will_sing(room, internet, broker, settings):
    for number, name in enumerate(("library", "A", "B", "C")):  # four different sounds: no merging
        internet.add_file(f"/{name}.mp3", make_audio(2.0, frequency=300 + 110 * number), "audio/mpeg")
    # A library import first: nobody waits for it.
    library = imports.song_import_url(url=internet.url("/library.mp3"), title="library").job
    singers = {name: services.singer_join(room=room, display_name=name)[0] for name in "ABC"}
    # The rotation plays A, B, C (join order); their songs arrive in the order C, B, A.
    for name in "CBA":
        result = imports.song_import_url(url=internet.url(f"/{name}.mp3"), title=name)
        services.queue_add(room=room, actor=actor_for(room, token=singers[name].token), song=result.song)
    assert [j.song.title for j in Job.objects.order_by("created_at")] == ["library", "C", "B", "A"]

    deliver_in_order(broker, settings)

    assert claims("download") == ["A", "B", "C", "library"]
    assert claims("separate") == ["A", "B", "C", "library"]
    assert set(Job.objects.values_list("status", flat=True)) == {"completed"}
    library.refresh_from_db()
    assert library.priority == Job.PRIORITY_LAST


def test_requests_approved_in_the_order_c_b_a_are_prepared_a_b_c(room, internet, broker, settings, monkeypatch):
    """The same through the guests' own path: requests for YouTube videos (the local
    stand-in), approved by the host in the reverse of the rotation's order."""
    videos = {name: Video(f"{name * 3}rotation{name}"[:11], name, "Channel", "0:02") for name in "ABC"}
    internet.add_file("/library.mp3", make_audio(2.0, frequency=250), "audio/mpeg")
    with LocalInternet(tls=True) as youtube:
        point_ytdlp_at(monkeypatch, youtube.host)
        for number, video in enumerate(videos.values()):
            serve_video(youtube, video, make_audio(2.0, fmt="m4a", frequency=440 + 110 * number))
        library = imports.song_import_url(url=internet.url("/library.mp3"), title="library").job
        singers = {name: services.singer_join(room=room, display_name=name)[0] for name in "ABC"}
        host = actor_for(room, user=room.owner)
        for name in "CBA":
            asked = song_requests.request_create(room=room, actor=actor_for(room, token=singers[name].token),
                                                 video=videos[name].id)
            song_requests.request_decide(room=room, actor=host, request_id=asked.pk, action="approve")
        assert [j.song.title for j in Job.objects.order_by("created_at")] == ["library", "C", "B", "A"]

        deliver_in_order(broker, settings)

    assert claims("download") == ["A", "B", "C", "library"]
    assert claims("separate") == ["A", "B", "C", "library"]
    assert set(Job.objects.values_list("status", flat=True)) == {"completed"}
    assert set(SongRequest.objects.values_list("status", flat=True)) == {SongRequest.Status.READY}
    library.refresh_from_db()
    assert library.priority == Job.PRIORITY_LAST


def test_moving_an_entry_reorders_what_waits(room, internet, broker):
    for number, name in enumerate("AB"):
        internet.add_file(f"/{name}.mp3", make_audio(2.0, frequency=300 + 110 * number), "audio/mpeg")
    singers = {name: services.singer_join(room=room, display_name=name)[0] for name in "AB"}
    entries = {}
    for name in "AB":
        result = imports.song_import_url(url=internet.url(f"/{name}.mp3"), title=name)
        entries[name] = services.queue_add(room=room, actor=actor_for(room, token=singers[name].token), song=result.song)
    jobs = {job.song.title: job for job in Job.objects.select_related("song")}
    assert jobs["A"].priority < jobs["B"].priority
    # The host moves B's song to play next: B's job is now due first.
    services.queue_move(room=room, actor=actor_for(room, user=room.owner), entry_id=entries["B"].pk, position=0)
    for job in jobs.values():
        job.refresh_from_db()
    assert jobs["B"].priority < jobs["A"].priority
    # B's song removed: its job waits last, like a library import.
    services.queue_remove(room=room, actor=actor_for(room, user=room.owner), entry_id=entries["B"].pk)
    jobs["B"].refresh_from_db()
    assert jobs["B"].priority == Job.PRIORITY_LAST


def test_the_eta_is_the_work_ahead_plus_its_own_at_the_measured_speeds(room, settings, django_user_model):
    """Speeds measured from completed jobs; two songs due sooner wait on the same clusters."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1,
                          "ALT_CLUSTERS": {settings.SEPARATION_CLUSTER: {"workers": 1}}}
    cache.delete("eta:stage-speeds")
    speeds = {"download": 0.2, "transcode": 0.05, "separate": 0.6, "enrich": 0.02, "lyrics": 0.01}
    for number in range(3):  # this machine's record: 100 s songs at those speeds
        done = Song.objects.create(title=f"done {number}", source=Song.Source.UPLOAD, duration=100,
                                   status=Song.Status.READY)
        Job.objects.create(song=done, status=Job.Status.COMPLETED, finished_at=timezone.now(),
                           stage_seconds={stage: speed * 100 for stage, speed in speeds.items()})
    singers = [services.singer_join(room=room, display_name=name)[0] for name in "ABC"]
    songs = []
    for singer in singers:
        song = Song.objects.create(title=singer.display_name, source=Song.Source.URL, duration=200,
                                   source_id=f"https://songs.example/{singer.pk}.mp3", status=Song.Status.PENDING)
        Job.objects.create(song=song, status=Job.Status.QUEUED, stage="download", cluster=settings.DEFAULT_CLUSTER)
        services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=song)
        songs.append(song)
    services.jobs_follow_rotation()
    request = SongRequest.objects.create(room=room, singer=singers[2], video_id="xFrGuyw1V8s", title="C",
                                         status=SongRequest.Status.APPROVED, song=songs[2])
    payload = selectors.request_payload(request)
    per_song = 200 * sum(speeds.values())
    expected = 3 * per_song  # two songs ahead of it, then its own
    assert payload["ready_in_seconds"] == pytest.approx(expected, rel=0.2)
    assert payload["progress"]["stage"] == "download"
    # The first song in the rotation waits for nobody.
    first = SongRequest.objects.create(room=room, singer=singers[0], video_id="Nt6Vc5rqmO8", title="A",
                                       status=SongRequest.Status.APPROVED, song=songs[0])
    assert selectors.request_payload(first)["ready_in_seconds"] == pytest.approx(per_song, rel=0.2)


@pytest.mark.slow
@pytest.mark.parametrize("task_broker", ["orm", "redis"])
def test_real_clusters_prepare_songs_in_rotation_order(own_site, task_broker, internet, staff_user, django_user_model):
    """The same order with real qclusters (one worker each) and either broker: a library
    import and three singers' songs are queued while no worker runs, then the workers start."""
    env = {"TASK_BROKER": task_broker, "WORKERS": "1", "SEPARATION_WORKERS": "1"}
    web = start_site(extra_env=env, clusters="")  # the web server alone: nothing runs the jobs yet
    try:
        token = Token.objects.create(user=staff_user).key

        def add(path: str, audio: bytes) -> str:
            internet.add_file(path, audio, "audio/mpeg")
            answer = requests.post(f"{web.url}/api/songs/import", json={"url": internet.url(path)},
                                   headers={"Authorization": f"Token {token}"}, timeout=30)
            assert answer.status_code == 202, answer.text
            return answer.json()["song"]["id"]

        add("/library.mp3", make_audio(2.0, frequency=320))
        carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
        room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
        singers = {name: services.singer_join(room=room, display_name=name)[0] for name in "ABC"}
        for number, name in enumerate("CBA"):
            song = Song.objects.get(pk=add(f"/{name}.mp3", make_audio(2.0, frequency=440 + 110 * number)))
            services.queue_add(room=room, actor=actor_for(room, token=singers[name].token), song=song)
        for path, title in (("/library.mp3", "library"), ("/A.mp3", "A"), ("/B.mp3", "B"), ("/C.mp3", "C")):
            Song.objects.filter(source_id__endswith=path).update(title=title)
        workers = start_site(extra_env=env)  # now the clusters: every job waits for them
        try:
            wait_until(lambda: Job.objects.filter(status=Job.Status.COMPLETED).count() == 4, workers, timeout=300)
        finally:
            workers.stop()
    finally:
        web.stop()
    assert claims("download") == ["A", "B", "C", "library"]
    assert claims("separate") == ["A", "B", "C", "library"]


def wait_until(predicate, site, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out\n{site.log()}")
