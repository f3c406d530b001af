"""pytest plugin (loaded with -p, before pytest-django imports settings).

Settings read DATA_DIR and REDIS_URL once, at import, so both must be in the
environment before that happens: every run gets a fresh DATA_DIR, and when no
REDIS_URL is given the embedded redis-server is started for the run, exactly
as `make run` does.
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

# Safe this early: it reads no settings (it only knows how to start a redis-server).
from karaoke_site import embedded

_state: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    data_dir = Path(tempfile.mkdtemp(prefix="encore-test-"))
    os.environ["DATA_DIR"] = str(data_dir)
    _state["data_dir"] = data_dir
    # The small real Demucs model conftest builds there (never a download).
    os.environ["DEMUCS_MODEL_DIR"] = str(data_dir / "models")
    os.environ["DEMUCS_MODEL"] = "tiny_htdemucs"
    # DEBUG is off by default, and then the site invents no key on an external database
    # (CI's PostgreSQL): the run's processes (this one, the live sites) share this one.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    if not os.environ.get("REDIS_URL"):
        server = embedded.start(data_dir)
        os.environ["REDIS_URL"] = server.url
        _state["redis"] = server


def pytest_report_header(config):
    redis = "embedded" if "redis" in _state else "external"
    return [f"encore: DATA_DIR={_state.get('data_dir')} REDIS_URL={os.environ.get('REDIS_URL')} ({redis})"]


def pytest_unconfigure(config):
    server = _state.pop("redis", None)
    if server is not None:
        server.stop()
    data_dir = _state.pop("data_dir", None)
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)
