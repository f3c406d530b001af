"""/healthz: is every part of the site working right now?

Each check is small and bounded by a timeout, so a dead part makes the answer
503 with its name rather than making the health check hang.
"""

import asyncio
import time
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django_q.brokers import get_broker

from jobs.selectors import cluster_health
from jobs.services import jobs_waiting_stranded

CHECK_TIMEOUT = 3.0


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


async def _channel_layer() -> dict:
    layer = get_channel_layer()
    # A plain channel name (no "!"): channels-redis receives it with its own
    # blocking pop, outside the process-wide receive loop that every WebSocket
    # consumer shares. A check cancelled by its timeout (a slow start-up) then
    # cannot leave that shared loop's lock or buffers behind (the suspect when,
    # once, a restarted site's /healthz kept failing while its sockets worked).
    channel = f"healthz.{uuid.uuid4().hex}"
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    return {"ok": message.get("type") == "healthz.ping", "backend": type(layer).__name__}


def _task_broker() -> dict:
    broker = get_broker(settings.DEFAULT_CLUSTER)
    broker.ping()
    # The ORM broker's ping is a constant; counting its queue touches the table.
    # Jobs waiting longer than JOB_WAITING_STALE_AFTER with no task left for them: the
    # sweep gives them one within a minute; a number that stays up means it cannot.
    stranded = sum(len(jobs) for jobs in jobs_waiting_stranded().values())
    return {"ok": True, "broker": settings.TASK_BROKER, "queued": broker.queue_size(), "jobs_stranded": stranded}


def _clusters() -> dict:
    return {
        health.cluster: {
            "ok": health.alive,
            "last_heartbeat_age_seconds": None if health.age_seconds is None else round(health.age_seconds, 1),
        }
        for health in cluster_health()
    }


async def _run(name: str, check) -> tuple[str, dict]:
    started = time.perf_counter()
    try:
        if asyncio.iscoroutinefunction(check):
            result = await asyncio.wait_for(check(), CHECK_TIMEOUT)
        else:
            result = await asyncio.wait_for(sync_to_async(check)(), CHECK_TIMEOUT)
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:.0f} s"}
    except Exception as exc:  # a health check reports failures, it does not raise them
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, result


@never_cache
async def healthz(request):
    results = dict(
        await asyncio.gather(
            _run("database", _database),
            _run("channel_layer", _channel_layer),
            _run("task_broker", _task_broker),
        )
    )
    _, clusters = await _run("clusters", _clusters)
    failing = [name for name, result in results.items() if not result["ok"]]
    if "error" in clusters:
        failing.append("clusters")
    else:
        clusters.pop("ms", None)
        failing += [f"cluster:{name}" for name, result in clusters.items() if not result["ok"]]
    body = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {**results, "clusters": clusters},
    }
    if failing:
        body["message"] = "Not healthy: " + ", ".join(failing) + "."
    return JsonResponse(body, status=503 if failing else 200)
