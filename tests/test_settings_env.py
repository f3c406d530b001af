"""The settings helpers refuse bad values with a message that names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from karaoke_site.env import (
    env_bool,
    env_choice,
    env_float,
    env_float_list,
    env_int,
    env_json_object,
    env_list,
    env_path,
    env_rate,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def environ(monkeypatch):
    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


def test_it_reads_booleans_in_the_usual_spellings(environ):
    environ(A="true", B="0", C="Yes", D="off")
    assert [env_bool(name, False) for name in "AB"] == [True, False]
    assert [env_bool(name, False) for name in "CD"] == [True, False]


def test_it_uses_the_default_for_unset_or_blank_variables(environ):
    environ(BLANK="  ")
    assert env_bool("BLANK", True) is True
    assert env_int("UNSET_ENCORE_VARIABLE", 8000) == 8000


def test_it_refuses_a_misspelt_boolean_naming_the_variable(environ):
    environ(DEBUG="ture")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='ture' is not a boolean"):
        env_bool("DEBUG", True)


def test_it_refuses_a_port_that_is_not_a_number(environ):
    environ(PORT="80a")
    with pytest.raises(ImproperlyConfigured, match=r"PORT='80a' is not a whole number"):
        env_int("PORT", 8000)


def test_it_refuses_numbers_out_of_range(environ):
    environ(PORT="70000", WORKERS="0", OVERLAP="1.5")
    with pytest.raises(ImproperlyConfigured, match="too large"):
        env_int("PORT", 8000, maximum=65535)
    with pytest.raises(ImproperlyConfigured, match="the minimum is 1"):
        env_int("WORKERS", 2, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="OVERLAP=1.5 is too large"):
        env_float("OVERLAP", 0.25, maximum=0.99)


def test_it_refuses_a_url_with_the_wrong_scheme(environ):
    environ(REDIS_URL="http://localhost:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL='http://localhost:6379' is not a URL with one of the schemes"):
        env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))


def test_it_refuses_an_unknown_choice(environ):
    environ(TASK_BROKER="rabbit")
    with pytest.raises(ImproperlyConfigured, match="TASK_BROKER='rabbit' is not one of: orm, redis"):
        env_choice("TASK_BROKER", "orm", ("orm", "redis"))


def test_it_splits_lists_and_expands_paths(environ, tmp_path):
    environ(ALLOWED_HOSTS=" karaoke.local, 192.168.1.5 ,", DATA_DIR=str(tmp_path / "x" / ".." / "data"))
    assert env_list("ALLOWED_HOSTS", ["*"]) == ["karaoke.local", "192.168.1.5"]
    assert env_path("DATA_DIR", Path("/nowhere")) == tmp_path / "data"


def _check(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**clean, "DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_will_not_invent_a_secret_key_for_an_external_database(tmp_path):
    result = _check(tmp_path, DEBUG="false", DATABASE_URL="postgres://encore@127.0.0.1:5432/encore")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_it_generates_a_secret_key_once_on_the_embedded_default_with_debug_off(tmp_path):
    assert _check(tmp_path).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert _check(tmp_path, DEBUG="false").returncode == 0
    assert (tmp_path / "secret_key").read_text() == first


def test_it_generates_a_secret_key_once_in_debug(tmp_path):
    assert _check(tmp_path, DEBUG="true").returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert _check(tmp_path, DEBUG="true").returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert len(first) >= 50


def test_it_stops_at_start_up_on_a_bad_value(tmp_path):
    result = _check(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_it_reads_a_list_of_delays_and_refuses_a_word_in_it(environ):
    environ(JOB_RETRY_DELAYS="0.1, 0.2,0.4", BAD="4,soon")
    assert env_float_list("JOB_RETRY_DELAYS", [4.0]) == [0.1, 0.2, 0.4]
    with pytest.raises(ImproperlyConfigured, match="JOB_RETRY_DELAYS|'soon' is not a number"):
        env_float_list("BAD", [4.0])


def test_it_reads_a_json_object_and_refuses_anything_else(environ):
    environ(GOOD='{"proxy": "socks5://127.0.0.1:1080"}', LIST='["proxy"]', BROKEN="{proxy: yes}")
    assert env_json_object("GOOD", {}) == {"proxy": "socks5://127.0.0.1:1080"}
    assert env_json_object("UNSET_ENCORE_OPTIONS", {}) == {}
    with pytest.raises(ImproperlyConfigured, match="LIST should be a JSON object"):
        env_json_object("LIST", {})
    with pytest.raises(ImproperlyConfigured, match="BROKEN is not valid JSON"):
        env_json_object("BROKEN", {})


def test_it_reads_a_rate_and_refuses_one_without_a_period(environ):
    environ(GOOD="10/15m", MINUTE="3/m", BAD="ten/minute", ZERO="0/1m")
    assert env_rate("GOOD", "1/1s") == (10, 900)
    assert env_rate("MINUTE", "1/1s") == (3, 60)
    assert env_rate("UNSET_ENCORE_RATE", "30/1h") == (30, 3600)
    for name in ("BAD", "ZERO"):
        with pytest.raises(ImproperlyConfigured, match=f"{name}=.* is not a rate: write count/period"):
            env_rate(name, "1/1s")
