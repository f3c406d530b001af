"""Worker heartbeats: recorded per cluster and host, announced only when asked."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from jobs import services
from jobs.models import WorkerHeartbeat
from jobs.selectors import cluster_health

pytestmark = pytest.mark.django_db


def test_it_keeps_one_row_per_cluster_and_host():
    services.worker_heartbeat_record(cluster="encore")
    services.worker_heartbeat_record(cluster="encore")
    services.worker_heartbeat_record(cluster="separation")
    assert WorkerHeartbeat.objects.count() == 2


def test_it_reports_the_age_of_each_configured_cluster(settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 60
    services.worker_heartbeat_record(cluster="encore")
    WorkerHeartbeat.objects.create(
        cluster="separation", host="gpu-box", pid=1, beat_at=timezone.now() - timedelta(minutes=5)
    )
    health = {h.cluster: h for h in cluster_health()}
    assert health["encore"].alive and health["encore"].age_seconds < 5
    assert not health["separation"].alive and health["separation"].age_seconds > 290


def test_a_cluster_never_seen_is_not_alive():
    assert [(h.cluster, h.alive, h.age_seconds) for h in cluster_health()] == [
        ("encore", False, None),
        ("separation", False, None),
    ]


def test_a_plain_heartbeat_publishes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.worker_heartbeat_record(cluster="encore")
    assert callbacks == []


def test_a_ping_heartbeat_publishes_one_event_after_commit(django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("jobs", channel)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.worker_heartbeat_record(cluster="separation", token="t-1")
        assert len(callbacks) == 1
        event = async_to_sync(layer.receive)(channel)
    finally:
        async_to_sync(layer.group_discard)("jobs", channel)
    assert event["type"] == "worker.heartbeat"
    assert (event["cluster"], event["token"]) == ("separation", "t-1")


def test_a_ping_is_enqueued_only_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        token = services.worker_ping_enqueue(cluster="separation")
    assert len(callbacks) == 1 and token
