"""Cover Art Archive: the front cover and its thumbnail, saved atomically, from a local archive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from songs.errors import PermanentError, TransientError
from songs.providers.coverart import CoverResult, fetch_front_cover
from tests.internet import LocalInternet, closed_port

RECORDED = Path(__file__).parent / "recorded" / "coverart"
ARRIVAL = "0b0b1cc5-2a1a-4d0e-8c6b-3a4f0d5e7a90"
SINGLE = "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b09"
JPEG = (RECORDED / "front.jpg").read_bytes()
PNG = (RECORDED / "front-250.png").read_bytes()
JSON = {"Content-Type": "application/json"}
UA = "Encore-tests/0.1 ( tests@example.org )"


def _listing(internet: LocalInternet, name: str, mbid: str, files_at: str) -> None:
    """Serve a recorded listing whose file URLs point at ``files_at``, as a mirror's would."""
    body = (RECORDED / name).read_text().replace("http://coverartarchive.org", files_at)
    internet.add_route(f"/release/{mbid}", 200, body, JSON)


def _fetch(internet: LocalInternet, dest: Path, mbid: str = ARRIVAL, timeout: float = 2.0) -> CoverResult | None:
    return fetch_front_cover(mbid, dest, base_url=internet.url(""), timeout=timeout, user_agent=UA)


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_it_saves_the_front_cover_and_its_250_thumbnail(internet: LocalInternet, tmp_path: Path) -> None:
    _listing(internet, "release-arrival.json", ARRIVAL, internet.url(""))
    internet.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg")
    internet.add_file(f"/release/{ARRIVAL}/5769425243-250.jpg", PNG, "image/png")

    result = _fetch(internet, tmp_path)

    assert result == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=tmp_path / "cover-250.png")
    assert result.image_path.read_bytes() == JPEG
    assert result.thumb_path is not None and result.thumb_path.read_bytes() == PNG
    assert _leftovers(tmp_path) == ["cover-250.png", "cover.jpg"]  # no temporary files
    assert {r.headers["User-Agent"] for r in internet.requests} == {UA}


def test_it_falls_back_to_the_front_redirects_when_the_listed_files_are_unreachable(
    internet: LocalInternet, tmp_path: Path
) -> None:
    _listing(internet, "release-arrival.json", ARRIVAL, f"http://127.0.0.1:{closed_port()}")
    internet.add_route(f"/release/{ARRIVAL}/front", 307, b"", {"Location": internet.url("/ia/front.jpg")})
    internet.add_route(f"/release/{ARRIVAL}/front-250", 307, b"", {"Location": internet.url("/ia/front-250.jpg")})
    internet.add_file("/ia/front.jpg", JPEG, "image/jpeg")
    internet.add_file("/ia/front-250.jpg", JPEG, "image/jpeg")

    result = _fetch(internet, tmp_path)

    assert result == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=tmp_path / "cover-250.jpg")
    assert result.image_path.read_bytes() == JPEG


def test_it_returns_none_for_a_release_without_art(internet: LocalInternet, tmp_path: Path) -> None:
    assert _fetch(internet, tmp_path / "song") is None  # the local archive answers 404
    assert _leftovers(tmp_path / "song") == []


def test_it_returns_none_when_there_is_no_front_image(internet: LocalInternet, tmp_path: Path) -> None:
    _listing(internet, "release-back-only.json", SINGLE, internet.url(""))
    assert _fetch(internet, tmp_path, mbid=SINGLE) is None


def test_it_keeps_the_cover_when_only_the_thumbnail_is_missing(internet: LocalInternet, tmp_path: Path) -> None:
    _listing(internet, "release-arrival.json", ARRIVAL, internet.url(""))
    internet.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg")
    assert _fetch(internet, tmp_path) == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=None)


def test_it_rejects_a_page_that_is_not_an_image(internet: LocalInternet, tmp_path: Path) -> None:
    _listing(internet, "release-arrival.json", ARRIVAL, internet.url(""))
    internet.add_page(f"/release/{ARRIVAL}/5769425243.jpg", "<html><body>Service Unavailable</body></html>")
    with pytest.raises(PermanentError) as caught:
        _fetch(internet, tmp_path)
    assert caught.value.code == "coverart_not_image"
    assert _leftovers(tmp_path) == []


def test_it_reports_a_503_as_transient_at_once(internet: LocalInternet, tmp_path: Path) -> None:
    internet.add_route(f"/release/{ARRIVAL}", 503, b"<html>503 Service Temporarily Unavailable</html>")
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _fetch(internet, tmp_path)
    assert time.monotonic() - started < 5
    assert caught.value.code == "coverart_unavailable"


def test_it_times_out_on_a_trickling_image_and_leaves_no_partial_file(internet: LocalInternet, tmp_path: Path) -> None:
    _listing(internet, "release-arrival.json", ARRIVAL, internet.url(""))
    internet.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg", chunk_size=16, chunk_delay=0.1)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _fetch(internet, tmp_path, timeout=0.5)
    assert time.monotonic() - started < 3
    assert caught.value.code == "coverart_timeout"
    assert _leftovers(tmp_path) == []


def test_it_reads_a_chunked_listing(internet: LocalInternet, tmp_path: Path) -> None:
    body = (RECORDED / "release-arrival.json").read_text().replace("http://coverartarchive.org", internet.url(""))
    internet.add_route(f"/release/{ARRIVAL}", 200, body, JSON, framing="chunked", chunk_size=100)
    internet.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg", framing="close", chunk_size=7)
    result = _fetch(internet, tmp_path)
    assert result is not None and result.image_path.read_bytes() == JPEG


def test_it_refuses_a_release_id_that_is_not_an_mbid(internet: LocalInternet, tmp_path: Path) -> None:
    with pytest.raises(PermanentError):
        _fetch(internet, tmp_path, mbid="../../etc/passwd")
    assert internet.requests == []
