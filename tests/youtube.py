"""A local stand-in for YouTube's search, for the real yt-dlp.

yt-dlp searches YouTube with one HTTPS POST to ``/youtubei/v1/search`` on its
"innertube" API host. `point_ytdlp_at` makes the adapter's searches go to a
`LocalInternet(tls=True)` instead (yt-dlp's own `innertube_host` option, and no
client-config page first), where `serve_search` answers with results in the shape
YouTube's API answers (hand-made, trimmed to what yt-dlp reads from a flat search).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.internet import LocalInternet

SEARCH_PATH = "/youtubei/v1/search"


@dataclass(frozen=True)
class Video:
    id: str
    title: str
    channel: str = ""
    length: str = ""  # as YouTube shows it: "3:51"
    thumbnail: str | None = None


def search_response(videos: list[Video]) -> dict:
    def renderer(video: Video) -> dict:
        item: dict = {"videoId": video.id, "title": {"runs": [{"text": video.title}]}}
        if video.channel:
            item["ownerText"] = {"runs": [{"text": video.channel}]}
        if video.length:
            item["lengthText"] = {"simpleText": video.length}
        if video.thumbnail:
            item["thumbnail"] = {"thumbnails": [{"url": video.thumbnail, "width": 480, "height": 270}]}
        return {"videoRenderer": item}

    section = {"itemSectionRenderer": {"contents": [renderer(video) for video in videos]}}
    return {"contents": {"twoColumnSearchResultsRenderer": {"primaryContents": {"sectionListRenderer": {
        "contents": [section]}}}}}


def serve_search(net: LocalInternet, videos: list[Video]) -> None:
    net.add_route(SEARCH_PATH, 200, json.dumps(search_response(videos)), {"Content-Type": "application/json"})


def ytdlp_options(api_host: str) -> dict:
    """yt-dlp options that send its YouTube searches to `api_host` (host:port, HTTPS, self-signed)."""
    return {
        "nocheckcertificate": True,
        "extractor_args": {"youtube": {"innertube_host": [api_host]}, "youtubetab": {"skip": ["webpage"]}},
    }


def searched_queries(net: LocalInternet) -> list[str]:
    return [json.loads(request.body)["query"] for request in net.requests_to(SEARCH_PATH) if request.method == "POST"]
