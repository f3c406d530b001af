"""/healthz names the failing part and answers 503, or 200 when all is well."""

from datetime import timedelta

import pytest
from channels.layers import channel_layers
from django.utils import timezone

from jobs import services
from jobs.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def beat_all():
    for cluster in ("encore", "separation"):
        services.worker_heartbeat_record(cluster=cluster)


def test_it_is_healthy_when_every_part_answers(client):
    beat_all()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "channel_layer", "task_broker", "clusters"}
    assert body["checks"]["channel_layer"]["backend"] == "RedisChannelLayer"
    assert body["checks"]["clusters"]["separation"]["last_heartbeat_age_seconds"] < 5


def test_it_names_a_cluster_whose_heartbeat_is_stale(client):
    beat_all()
    WorkerHeartbeat.objects.filter(cluster="separation").update(beat_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["cluster:separation"]
    assert body["message"] == "Not healthy: cluster:separation."
    assert body["checks"]["clusters"]["separation"]["last_heartbeat_age_seconds"] >= 600


def test_it_names_a_cluster_that_never_started(client):
    services.worker_heartbeat_record(cluster="encore")
    body = client.get("/healthz").json()
    assert body["failing"] == ["cluster:separation"]
    assert body["checks"]["clusters"]["separation"]["last_heartbeat_age_seconds"] is None


def test_it_names_an_unreachable_channel_layer(client, settings):
    beat_all()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0", "socket_timeout": 1}]},
        }
    }

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["channel_layer"]
    assert "Error" in body["checks"]["channel_layer"]["error"]
