"""The HTTP habits shared by the requests-based providers (Cover Art Archive, LRCLIB).

One deadline per adapter call, not per socket operation: ``requests``' timeout
bounds each connect and each wait for bytes, so a server that trickles a byte
at a time would never trip it. Bodies are therefore read with ``read1`` (whatever
has arrived) and the deadline is checked between reads. Every failure becomes a
``TransientError`` or ``PermanentError`` whose code starts with the service name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from songs.errors import PermanentError, TransientError

__all__ = ["Deadline", "get", "iter_body", "read_json"]

_CHUNK = 64 * 1024


class Deadline:
    def __init__(self, seconds: float, service: str):
        self._end = time.monotonic() + seconds
        self.seconds = seconds
        self.service = service

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise timed_out(self)
        return left


def timed_out(deadline: Deadline) -> TransientError:
    return TransientError(
        f"{deadline.service}_timeout", f"{deadline.service} did not answer within {deadline.seconds:g} s"
    )


def get(
    session: requests.Session, url: str, *, deadline: Deadline, params: dict[str, str] | None = None
) -> requests.Response | None:
    """GET ``url``, streaming; None for 404; raises for every other failure."""
    service = deadline.service
    try:
        response = session.get(url, params=params, timeout=deadline.remaining(), stream=True)
    except requests.Timeout as exc:
        raise timed_out(deadline) from exc
    except requests.RequestException as exc:
        raise TransientError(f"{service}_unreachable", f"cannot reach {service}: {exc}") from exc
    if response.status_code == 404:
        response.close()
        return None
    if response.status_code == 429 or response.status_code >= 500:
        response.close()
        raise TransientError(f"{service}_unavailable", f"{service} answered HTTP {response.status_code}")
    if response.status_code >= 400:
        response.close()
        raise PermanentError(f"{service}_refused", f"{service} answered HTTP {response.status_code}")
    return response


def iter_body(response: requests.Response, deadline: Deadline, max_bytes: int) -> Iterator[bytes]:
    """The body as it arrives, cut off at the deadline or past ``max_bytes``."""
    service = deadline.service
    size = 0
    try:
        while True:
            deadline.remaining()
            chunk = response.raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                return
            size += len(chunk)
            if size > max_bytes:
                raise PermanentError(f"{service}_too_large", f"{service} sent more than {max_bytes} bytes")
            yield chunk
    except (TimeoutError, urllib3.exceptions.ReadTimeoutError) as exc:
        raise timed_out(deadline) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(f"{service}_unreachable", f"{service} connection broke: {exc}") from exc
    finally:
        response.close()


def read_json(response: requests.Response, deadline: Deadline, max_bytes: int = 2 * 1024 * 1024) -> Any:
    body = b"".join(iter_body(response, deadline, max_bytes))
    try:
        return json.loads(body)
    except ValueError as exc:
        # A healthy server always sends JSON here; an HTML error page from a proxy
        # or a cut-off body is the server's passing state, so try again later.
        raise TransientError(
            f"{deadline.service}_bad_response", f"{deadline.service} sent something that is not JSON"
        ) from exc
