"""Cover Art Archive: the front cover and its thumbnail, saved atomically, from a local archive."""

from __future__ import annotations

import time
from collections.abc import Iterator
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


@pytest.fixture
def net() -> Iterator[LocalInternet]:
    with LocalInternet() as server:
        yield server


def _listing(net: LocalInternet, name: str, mbid: str, files_at: str) -> None:
    """Serve a recorded listing whose file URLs point at ``files_at``, as a mirror's would."""
    body = (RECORDED / name).read_text().replace("http://coverartarchive.org", files_at)
    net.add_route(f"/release/{mbid}", 200, body, JSON)


def _fetch(net: LocalInternet, dest: Path, mbid: str = ARRIVAL, timeout: float = 2.0) -> CoverResult | None:
    return fetch_front_cover(mbid, dest, base_url=net.url(""), timeout=timeout, user_agent=UA)


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_it_saves_the_front_cover_and_its_250_thumbnail(net: LocalInternet, tmp_path: Path) -> None:
    _listing(net, "release-arrival.json", ARRIVAL, net.url(""))
    net.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg")
    net.add_file(f"/release/{ARRIVAL}/5769425243-250.jpg", PNG, "image/png")

    result = _fetch(net, tmp_path)

    assert result == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=tmp_path / "cover-250.png")
    assert result.image_path.read_bytes() == JPEG
    assert result.thumb_path is not None and result.thumb_path.read_bytes() == PNG
    assert _leftovers(tmp_path) == ["cover-250.png", "cover.jpg"]  # no temporary files
    assert {r.headers["User-Agent"] for r in net.requests} == {UA}


def test_it_falls_back_to_the_front_redirects_when_the_listed_files_are_unreachable(
    net: LocalInternet, tmp_path: Path
) -> None:
    _listing(net, "release-arrival.json", ARRIVAL, f"http://127.0.0.1:{closed_port()}")
    net.add_route(f"/release/{ARRIVAL}/front", 307, b"", {"Location": net.url("/ia/front.jpg")})
    net.add_route(f"/release/{ARRIVAL}/front-250", 307, b"", {"Location": net.url("/ia/front-250.jpg")})
    net.add_file("/ia/front.jpg", JPEG, "image/jpeg")
    net.add_file("/ia/front-250.jpg", JPEG, "image/jpeg")

    result = _fetch(net, tmp_path)

    assert result == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=tmp_path / "cover-250.jpg")
    assert result.image_path.read_bytes() == JPEG


def test_it_returns_none_for_a_release_without_art(net: LocalInternet, tmp_path: Path) -> None:
    assert _fetch(net, tmp_path / "song") is None  # the local archive answers 404
    assert _leftovers(tmp_path / "song") == []


def test_it_returns_none_when_there_is_no_front_image(net: LocalInternet, tmp_path: Path) -> None:
    _listing(net, "release-back-only.json", SINGLE, net.url(""))
    assert _fetch(net, tmp_path, mbid=SINGLE) is None


def test_it_keeps_the_cover_when_only_the_thumbnail_is_missing(net: LocalInternet, tmp_path: Path) -> None:
    _listing(net, "release-arrival.json", ARRIVAL, net.url(""))
    net.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg")
    assert _fetch(net, tmp_path) == CoverResult(image_path=tmp_path / "cover.jpg", thumb_path=None)


def test_it_rejects_a_page_that_is_not_an_image(net: LocalInternet, tmp_path: Path) -> None:
    _listing(net, "release-arrival.json", ARRIVAL, net.url(""))
    net.add_page(f"/release/{ARRIVAL}/5769425243.jpg", "<html><body>Service Unavailable</body></html>")
    with pytest.raises(PermanentError) as caught:
        _fetch(net, tmp_path)
    assert caught.value.code == "coverart_not_image"
    assert _leftovers(tmp_path) == []


def test_it_reports_a_503_as_transient_at_once(net: LocalInternet, tmp_path: Path) -> None:
    net.add_route(f"/release/{ARRIVAL}", 503, b"<html>503 Service Temporarily Unavailable</html>")
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _fetch(net, tmp_path)
    assert time.monotonic() - started < 5
    assert caught.value.code == "coverart_unavailable"


def test_it_times_out_on_a_trickling_image_and_leaves_no_partial_file(net: LocalInternet, tmp_path: Path) -> None:
    _listing(net, "release-arrival.json", ARRIVAL, net.url(""))
    net.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg", chunk_size=16, chunk_delay=0.1)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _fetch(net, tmp_path, timeout=0.5)
    assert time.monotonic() - started < 3
    assert caught.value.code == "coverart_timeout"
    assert _leftovers(tmp_path) == []


def test_it_reads_a_chunked_listing(net: LocalInternet, tmp_path: Path) -> None:
    body = (RECORDED / "release-arrival.json").read_text().replace("http://coverartarchive.org", net.url(""))
    net.add_route(f"/release/{ARRIVAL}", 200, body, JSON, framing="chunked", chunk_size=100)
    net.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg", framing="close", chunk_size=7)
    result = _fetch(net, tmp_path)
    assert result is not None and result.image_path.read_bytes() == JPEG


def test_it_refuses_a_release_id_that_is_not_an_mbid(net: LocalInternet, tmp_path: Path) -> None:
    with pytest.raises(PermanentError):
        _fetch(net, tmp_path, mbid="../../etc/passwd")
    assert net.requests == []
