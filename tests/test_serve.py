"""`make run`'s supervisor: healthy within a minute, and nothing left behind.

It runs exactly like `make run` on a fresh machine: a new DATA_DIR, SQLite,
no REDIS_URL (so the embedded redis-server starts), both clusters.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from common.procs import free_port
from karaoke_site.supervisor import Child, cluster_child

pytestmark = [pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parent.parent


def fresh_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "TASK_BROKER", "SECRET_KEY")}
    env.update(DATA_DIR=str(data_dir), DEBUG="true")
    return env


@pytest.fixture
def supervisor(tmp_path, request):
    env = fresh_env(tmp_path)
    env.update(getattr(request, "param", {}))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=300)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield process, port, tmp_path
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def wait_healthy(process, port, log_path, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            if response.status_code == 200:
                return response.json()
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"/healthz was not 200 within {timeout} s:\n{log_path.read_text()[-4000:]}")


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def wait_all_gone(processes: list[psutil.Process], timeout=30.0) -> list[str]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("supervisor", [{"WEB_CONCURRENCY": "1"}, {"WEB_CONCURRENCY": "2"}], indirect=True, ids=["one-web", "two-web"])
def test_it_serves_a_healthy_site_and_stops_everything_on_sigterm(supervisor):
    process, port, data_dir = supervisor
    body = wait_healthy(process, port, data_dir / "serve.log")
    assert body["checks"]["database"]["vendor"] == "sqlite"
    assert set(body["checks"]["clusters"]) == {"encore", "separation"}
    children = descendants(process.pid)
    names = " ".join(" ".join(p.cmdline()) for p in children)
    assert "redis-server" in names and "uvicorn" in names and "qcluster" in names
    assert (data_dir / "run" / "redis.url").exists()
    # The task clusters (and the workers they fork) yield the CPU to the web server: nicer,
    # and in the idle scheduling class.
    base = psutil.Process(process.pid).nice()
    for child in children:
        command = " ".join(child.cmdline())
        worker = "qcluster" in command
        assert child.nice() == (min(19, base + 10) if worker else base), command
        assert os.sched_getscheduler(child.pid) == (os.SCHED_IDLE if worker else os.SCHED_OTHER), command

    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    assert wait_all_gone(children) == []
    assert not (data_dir / "run" / "redis.url").exists()
    assert "Encore is running" in (data_dir / "serve.log").read_text()


def test_the_workers_keep_the_normal_class_when_told(settings):
    """WORKER_IDLE=false: the niceness alone."""
    settings.WORKER_IDLE = False
    assert cluster_child("encore").idle is False
    settings.WORKER_IDLE = True
    assert cluster_child("encore").idle is True
    for idle, expected in ((True, os.SCHED_IDLE), (False, os.SCHED_OTHER)):
        child = Child(name="sleeper", argv=[sys.executable, "-c", "import time; time.sleep(30)"], niceness=1, idle=idle)
        child.start(dict(os.environ))
        try:
            assert os.sched_getscheduler(child.process.pid) == expected
        finally:
            child.process.kill()
            child.process.wait()


# With WEB_CONCURRENCY=2, uvicorn forks two web workers of its own.
@pytest.mark.parametrize("supervisor", [{"WEB_CONCURRENCY": "1"}, {"WEB_CONCURRENCY": "2"}], indirect=True, ids=["one-web", "two-web"])
def test_a_killed_supervisor_leaves_no_child_behind(supervisor):
    process, port, data_dir = supervisor
    wait_healthy(process, port, data_dir / "serve.log")
    children = descendants(process.pid)
    assert len(children) >= 4

    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert wait_all_gone(children) == []
