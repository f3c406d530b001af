"""A local stand-in for YouTube, for the real yt-dlp: its search, and its videos.

yt-dlp asks YouTube's "innertube" API with HTTPS POSTs to ``/youtubei/v1/...`` on one
API host. `ytdlp_options` (the YTDLP_OPTIONS setting; `point_ytdlp_at`) sends them to
a `LocalInternet(tls=True)` instead, with yt-dlp's own extractor options, where this
module answers in the shape YouTube's API answers (hand-made, trimmed to what yt-dlp
reads):

- a search is one POST to ``/youtubei/v1/search`` (`serve_search`);
- a watch link (``https://www.youtube.com/watch?v=ID``, downloaded or only read) is a
  POST to ``/youtubei/v1/next`` (page data: the channel's name) and one to
  ``/youtubei/v1/player`` (title, length, and the audio's URL), both naming the video
  in their JSON body; then a GET of that URL, which points back at the stand-in
  (`serve_video`, `serve_unavailable`). The options make yt-dlp ask as YouTube's
  visionOS app (``player_client``), whose answers need no JavaScript player and no
  PO token, and skip the watch page, the client-config pages and the JS player
  (``player_skip``): nothing else is fetched.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings

from tests.internet import LocalInternet, Route, SeenRequest

SEARCH_PATH = "/youtubei/v1/search"
NEXT_PATH = "/youtubei/v1/next"
PLAYER_PATH = "/youtubei/v1/player"
MEDIA_PATH = "/videoplayback/"
# yt-dlp's one client that needs neither YouTube's JavaScript player nor a PO token.
PLAYER_CLIENT = "visionos"


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
    """yt-dlp options that send its YouTube searches, video look-ups and downloads to
    `api_host` (host:port, HTTPS, self-signed): the YTDLP_OPTIONS setting."""
    return {
        "nocheckcertificate": True,
        "extractor_args": {
            "youtube": {
                "innertube_host": [api_host],
                "player_client": [PLAYER_CLIENT],
                "player_skip": ["webpage", "configs", "js"],
            },
            "youtubetab": {"skip": ["webpage"]},
        },
    }


def point_ytdlp_at(monkeypatch: pytest.MonkeyPatch, api_host: str) -> None:
    """Send all of the adapter's YouTube traffic (searches, links) in this process to
    `api_host` (a `LocalInternet(tls=True)`'s `host`). A site started as a subprocess takes
    the same options as YTDLP_OPTIONS in its environment (`ytdlp_environment`)."""
    monkeypatch.setattr(settings, "YTDLP_OPTIONS", ytdlp_options(api_host))


def ytdlp_environment(api_host: str) -> dict[str, str]:
    return {"YTDLP_OPTIONS": json.dumps(ytdlp_options(api_host))}


def searched_queries(net: LocalInternet) -> list[str]:
    return [json.loads(request.body)["query"] for request in net.requests_to(SEARCH_PATH) if request.method == "POST"]


# -- videos -------------------------------------------------------------------------


def serve_video(net: LocalInternet, video: Video, audio: bytes) -> str:
    """Answer for `video` as YouTube does, its audio being `audio` (m4a/AAC or webm/Opus,
    as YouTube's audio formats 140 and 251). Returns the path the audio is served at.

    `video.length` becomes its length in seconds (YouTube says it before any download);
    give it the audio's real length, or leave it out.
    """
    itag, ext, mime = _audio_format(audio)
    path = f"{MEDIA_PATH}{video.id}.{ext}"
    net.add_file(path, audio, mime.split(";")[0])
    details: dict[str, Any] = {"videoId": video.id, "title": video.title, "author": video.channel,
                               "channelId": "UC" + "x" * 22, "isLiveContent": False}
    if video.length:
        details["lengthSeconds"] = str(_seconds(video.length))
    if video.thumbnail:
        details["thumbnail"] = {"thumbnails": [{"url": video.thumbnail, "width": 480, "height": 270}]}
    audio_format = {
        "itag": itag, "url": net.url(f"{path}?itag={itag}&source=youtube"), "mimeType": mime,
        "bitrate": 128_000, "contentLength": str(len(audio)), "quality": "tiny",
        "audioQuality": "AUDIO_QUALITY_MEDIUM", "audioSampleRate": "48000", "audioChannels": 2,
    }
    _video_routes(net).videos[video.id] = (
        {"playabilityStatus": {"status": "OK", "playableInEmbed": True}, "videoDetails": details,
         "streamingData": {"expiresInSeconds": "21540", "adaptiveFormats": [audio_format]}},
        _next_response(video.channel),
    )
    return path


def serve_unavailable(net: LocalInternet, video_id: str, reason: str = "Video unavailable",
                      subreason: str | None = None) -> None:
    """Answer for `video_id` as YouTube does for a video it will not play (removed,
    private...); any id the stand-in was not given a video for is answered so too."""
    _video_routes(net).videos[video_id] = (_unavailable_response(reason, subreason), _next_response(""))


def _unavailable_response(reason: str, subreason: str | None = None) -> dict:
    screen: dict[str, Any] = {"reason": {"simpleText": reason}}
    if subreason:
        screen["subreason"] = {"runs": [{"text": subreason}]}
    return {"playabilityStatus": {"status": "ERROR", "reason": reason,
                                  "errorScreen": {"playerErrorMessageRenderer": screen}}}


def _next_response(channel: str) -> dict:
    contents = []
    if channel:
        owner = {"videoOwnerRenderer": {"title": {"runs": [{"text": channel}]}}}
        contents.append({"videoSecondaryInfoRenderer": {"owner": owner}})
    return {"contents": {"twoColumnWatchNextResults": {"results": {"results": {"contents": contents}}}}}


def _audio_format(audio: bytes) -> tuple[int, str, str]:
    if audio[4:8] == b"ftyp":
        return 140, "m4a", 'audio/mp4; codecs="mp4a.40.2"'
    if audio.startswith(b"\x1a\x45\xdf\xa3"):
        return 251, "webm", 'audio/webm; codecs="opus"'
    raise ValueError("YouTube serves audio as m4a (AAC) or webm (Opus); this is neither")


def _seconds(length: str) -> int:
    seconds = 0
    for part in length.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


# LocalInternet answers a path with one fixed route, but YouTube's player and next
# endpoints share one path for every video and name the video in the POST body. So
# the stand-in's routes and request log are swapped for the two below: the handler
# thread logs its request (kept per thread) and then looks up its route, which for
# those two paths is made from the video named in that request's body.
_handling = threading.local()


class _RequestLog(list):
    def append(self, request: SeenRequest) -> None:
        _handling.request = request
        super().append(request)


class _VideoRoutes(dict):
    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(routes)
        self.videos: dict[str, tuple[dict, dict]] = {}

    def get(self, path: str, default: Any = None) -> Any:
        if path not in (PLAYER_PATH, NEXT_PATH):
            return super().get(path, default)
        request = _handling.__dict__.pop("request", None)
        if request is None or request.path.split("?")[0] != path:
            return Route(500, b"tests/youtube.py: no request logged for this route", {"Content-Type": "text/plain"})
        video_id = json.loads(request.body or b"{}").get("videoId")
        player, next_ = self.videos.get(video_id) or (_unavailable_response("Video unavailable"), _next_response(""))
        body = player if path == PLAYER_PATH else next_
        return Route(200, json.dumps(body).encode(), {"Content-Type": "application/json; charset=UTF-8"})


def _video_routes(net: LocalInternet) -> _VideoRoutes:
    if not isinstance(net.routes, _VideoRoutes):
        net.requests = _RequestLog(net.requests)
        net.routes = _VideoRoutes(net.routes)
    return net.routes
