"""The supervisor behind `manage.py serve`: one command that runs the whole site.

It starts, in this order: the embedded redis-server (only when REDIS_URL is
unset), the ASGI server, and one `qcluster` per task cluster. Children run in
their own process groups, so Ctrl-C reaches only us and we stop them in
order; each also asks the kernel to signal it if we die, so a `kill -9` of the
supervisor leaves nothing behind. A child that crashes is restarted with
backoff; one that keeps dying at start-up stops the whole site with a message.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from accounts.services import onboarding_open
from common.procs import die_with_parent, lan_addresses, wait_for_port
from karaoke_site import embedded

logger = logging.getLogger("encore.serve")

MANAGE_PY = str(Path(settings.BASE_DIR) / "manage.py")
# Set before the interpreter starts, because glibc reads them once: keeping
# Demucs' 100 MB activation buffers instead of returning them to the kernel
# after every segment saves 15-17 % of separation time (see the README).
SEPARATION_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
FAST_FAILURE_SECONDS = 10.0
MAX_FAST_FAILURES = 3


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # Added to the niceness the child inherits (0: none).
    niceness: int = 0
    # The idle scheduling class (SCHED_IDLE), where the system has it; inherited by every
    # process and thread the child starts (its workers, torch's threads, ffmpeg).
    idle: bool = False
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None

    def start(self, base_env: dict[str, str]) -> None:
        env = {**base_env, **self.env}
        env = {key: value for key, value in env.items() if value is not None}
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=self._preexec,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def _preexec(self) -> None:
        # Runs in the child between fork and exec.
        die_with_parent()
        if self.niceness:
            os.nice(self.niceness)
        if self.idle and hasattr(os, "SCHED_IDLE"):
            # A sandbox may refuse it (seccomp): the niceness alone, rather than no worker.
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass


def web_child(host: str, port: int, workers: int = 1) -> Child:
    # With several workers uvicorn's own supervisor holds the socket and forks
    # them; they stay in its process group, so stopping or killing the group
    # (and PR_SET_PDEATHSIG on uvicorn, which then stops its workers) covers them.
    return Child(
        name="web",
        argv=[
            sys.executable, "-m", "uvicorn", "karaoke_site.asgi:application",
            "--host", host, "--port", str(port),
            "--lifespan", "off",
            # permessage-deflate once per message for every socket (karaoke_site/websocket.py).
            "--ws", "karaoke_site.websocket:WebSocketProtocol",
            "--proxy-headers",
            "--timeout-graceful-shutdown", "5",
            "--no-access-log",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
    )


def cluster_child(cluster: str) -> Child:
    env: dict[str, str | None] = {"Q_CLUSTER_NAME": cluster}
    if cluster == settings.SEPARATION_CLUSTER:
        env.update(SEPARATION_ENV)
    # Background work yields the CPU to the web server: a page or an API call
    # answers promptly while Demucs or ffmpeg keep every core busy, and the
    # workers still get all the CPU the web server does not use.
    return Child(
        name=f"qcluster:{cluster}",
        argv=[sys.executable, MANAGE_PY, "qcluster"],
        env=env,
        niceness=settings.WORKER_NICENESS,
        idle=settings.WORKER_IDLE,
    )


def network_urls(host: str, port: int) -> list[str]:
    """The addresses phones on the same network can use (read locally, no traffic)."""
    if host not in ("0.0.0.0", "::"):
        return [f"http://{host}:{port}/"]
    return [f"http://127.0.0.1:{port}/", *(f"http://{address}:{port}/" for address in lan_addresses())]


class Supervisor:
    def __init__(self, *, host: str, port: int, web: bool, clusters: list[str], stdout=sys.stdout):
        self.host = host
        self.port = port
        self.stdout = stdout
        self.children: list[Child] = []
        if web:
            self.children.append(web_child(host, port, settings.WEB_CONCURRENCY))
        self.children.extend(cluster_child(name) for name in clusters)
        self.redis: embedded.EmbeddedRedis | None = None
        self.stopping = False
        self.exit_code = 0

    def _on_signal(self, signum, _frame) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping = True

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "karaoke_site.settings")
        env["DATA_DIR"] = str(settings.DATA_DIR)
        if self.redis is not None:
            env["REDIS_URL"] = self.redis.url
        # Q_CLUSTER_NAME selects the cluster: never inherit a stray one.
        env.pop("Q_CLUSTER_NAME", None)
        # The task workers stop themselves when this process is gone (jobs/worker.py).
        env["ENCORE_SUPERVISOR_PID"] = str(os.getpid())
        return env

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        run_dir = Path(settings.DATA_DIR) / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not os.environ.get("REDIS_URL"):
                self.redis = embedded.start(Path(settings.DATA_DIR))
                (run_dir / "redis.url").write_text(self.redis.url)
            env = self.base_env()
            if any(child.name.startswith("qcluster:") for child in self.children):
                self._recover_jobs(env)
            for child in self.children:
                child.start(env)
            self._announce()
            while not self.stopping:
                self._watch(env)
                time.sleep(0.2)
        finally:
            self._stop_all()
            (run_dir / "redis.url").unlink(missing_ok=True)
        return self.exit_code

    def _recover_jobs(self, env: dict[str, str]) -> None:
        """Before the workers start: the jobs a crash left behind get a task again (a running
        job of a dead worker of this machine, a waiting job whose task was lost)."""
        try:
            subprocess.run(
                [sys.executable, MANAGE_PY, "recover_jobs", "--startup"], env=env, timeout=120, check=True,
                stdout=subprocess.DEVNULL,
            )
        except (subprocess.SubprocessError, OSError):
            logger.exception("could not recover the jobs left by the last run; the periodic sweep will")

    @staticmethod
    def _first_run() -> bool:
        try:
            return onboarding_open()
        except DatabaseError:  # not migrated yet: the web child says so itself
            return False

    def _announce(self) -> None:
        web = next((c for c in self.children if c.name == "web"), None)
        if web is None:
            self.stdout.write("Encore workers running. Press Ctrl-C to stop.\n")
            return
        probe_host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        if wait_for_port(probe_host, self.port, 60, alive=web.running):
            lines = "\n".join(f"  {url}" for url in network_urls(self.host, self.port))
            self.stdout.write(f"Encore is running:\n{lines}\nPress Ctrl-C to stop.\n")
            if self._first_run():
                self.stdout.write(
                    f"First run: make the host's account at http://127.0.0.1:{self.port}/accounts/welcome/ "
                    "(in a browser on this machine).\n"
                )
            self.stdout.flush()

    def _watch(self, env: dict[str, str]) -> None:
        now = time.monotonic()
        if self.redis is not None and self.redis.process.poll() is not None:
            # Every child holds connections to it: nothing useful runs without it.
            logger.error("the embedded redis-server exited; stopping Encore")
            self.exit_code = 1
            self.stopping = True
            return
        for child in self.children:
            if child.running():
                continue
            if child.restart_at is None:
                code = child.process.returncode if child.process else None
                lived = now - child.started_at
                child.fast_failures = child.fast_failures + 1 if lived < FAST_FAILURE_SECONDS else 1
                if child.fast_failures >= MAX_FAST_FAILURES:
                    logger.error("%s keeps exiting at start-up (code %s); stopping Encore", child.name, code)
                    self.exit_code = 1
                    self.stopping = True
                    return
                delay = min(30.0, 2.0 ** child.fast_failures)
                logger.warning("%s exited with code %s; restarting in %.0f s", child.name, code, delay)
                child.restart_at = now + delay
            elif now >= child.restart_at:
                child.start(env)

    def _stop_all(self, timeout: float = 15.0) -> None:
        # Workers first (they may be publishing), then the web server, then Redis.
        # Only each child's main process is asked: qcluster stops its own
        # workers in order, and a SIGTERM to all of them at once derails that.
        for child in reversed(self.children):
            if child.running():
                child.process.terminate()
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing it", child.name)
            # Anything left in the group (a worker a qcluster forked) goes too.
            child.signal_group(signal.SIGKILL)
        if self.redis is not None:
            self.redis.stop()
