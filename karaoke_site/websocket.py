"""The web server's WebSocket protocol: uvicorn's own, whose permessage-deflate compresses
what many sockets send alike once per process, not once per socket.

A room's change goes to every watcher in the process: as the same text to every API client
(one JSON string, queue_app/consumers.py), and to every phone as the same queue fragment
followed by that singer's own "My songs". With the compression browsers and clients
negotiate by default ("context takeover"), each socket keeps its own compressor, whose
output depends on everything that socket sent before: the process compressed the same
30-50 KB queue once per socket, about half of its event loop's busy time at a party of 200
phones (bench/README.md, party_load.py). Here the server asks for
`server_no_context_takeover`, which RFC 7692 (7.1.1.1) lets a server require and every
client must accept, so each message is compressed on its own, and:

- a text sent again is sent as the same bytes (the last few are kept);
- a text that begins like the last one (the queue, then another singer's songs) is sent as
  the compressed beginning, kept once it is seen twice, then its own end compressed on its
  own. Both pieces end with a sync flush, so together they are one valid deflate stream,
  and the end's back-references stay within the end.

Messages the server receives are untouched. Hand-written because neither uvicorn nor
websockets has the option: uvicorn builds its `ServerPerMessageDeflateFactory` itself, so
this class replaces the factory after uvicorn's constructor and keeps everything else of
the protocol. `manage.py serve` runs uvicorn with
`--ws karaoke_site.websocket:WebSocketProtocol`.
"""

import threading
import zlib
from collections import deque
from collections.abc import Sequence

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import CONT, CTRL_OPCODES, Frame
from websockets.typing import ExtensionParameter

# Below this a message is compressed for its socket alone (a lookup would cost about what
# compressing it does), and a shorter common beginning is not shared.
SHARE_FROM_BYTES = 2048
# The texts and beginnings most recently compressed: a change is sent to every watcher
# before the next one, so a few suffice.
RECENT = 8
# uvicorn's own settings (websockets_sansio_impl): a 4 KB window and a small memory level
# cost each socket about 16 KB instead of about 260 KB at zlib's defaults.
WINDOW_BITS = 12
COMPRESS_SETTINGS = {"memLevel": 5}

_whole: deque = deque(maxlen=RECENT)  # (window bits, text, compressed, its tail removed)
_beginnings: deque = deque(maxlen=RECENT)  # (window bits, text, compressed and flushed)
_lock = threading.Lock()  # one event loop per process, but a test may run several

_FLUSH_TAIL = b"\x00\x00\xff\xff"


def _ended(packed: bytes) -> bytes:
    """A message's last piece, without the flush's tail (the receiver adds it back)."""
    return packed[: -len(_FLUSH_TAIL)]


def compress(data: bytes, window_bits: int, settings: dict) -> bytes:
    """`data` deflated on its own and sync-flushed, so that what follows may be another
    piece compressed on its own (RFC 7692 7.2.1: a message ends without the final
    0x00 0x00 0xff 0xff, which the receiver adds back)."""
    encoder = zlib.compressobj(wbits=-window_bits, **settings)
    return encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)


def common_prefix(a: bytes, b: bytes) -> int:
    """How many first bytes `a` and `b` share (by halves: about 16 comparisons in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _known(entries: deque, bits: int, test) -> tuple | None:
    for entry in entries:
        if entry[0] == bits and test(entry[1]):
            entries.remove(entry)
            entries.append(entry)  # most recently used last: a busy room's entries stay
            return entry
    return None


def shared_compress(data: bytes, bits: int, settings: dict) -> bytes:
    """The message `data` compressed, its tail removed, reusing what other sockets sent."""
    with _lock:
        whole = _known(_whole, bits, data.__eq__)
        if whole is not None:
            return whole[2]
        beginning = _known(_beginnings, bits, data.startswith)
        if beginning is None:
            last = next((entry for entry in reversed(_whole) if entry[0] == bits), None)
            shared = common_prefix(last[1], data) if last is not None else 0
    if beginning is None and shared >= SHARE_FROM_BYTES:
        beginning = (bits, data[:shared], compress(data[:shared], bits, settings))
        with _lock:
            _beginnings.append(beginning)
    if beginning is None:
        packed = _ended(compress(data, bits, settings))
        with _lock:
            _whole.append((bits, data, packed))
        return packed
    rest = data[len(beginning[1]):]
    if not rest:
        return _ended(beginning[2])
    return beginning[2] + _ended(compress(rest, bits, settings))


class SharedDeflate(PerMessageDeflate):
    """permessage-deflate without the server's context takeover, what sockets send alike
    compressed once (`shared_compress`)."""

    def encode(self, frame: Frame) -> Frame:
        if (frame.opcode in CTRL_OPCODES or frame.opcode is CONT or not frame.fin
                or not self.local_no_context_takeover or len(frame.data) < SHARE_FROM_BYTES):
            return super().encode(frame)
        packed = shared_compress(bytes(frame.data), self.local_max_window_bits, self.compress_settings)
        return Frame(frame.opcode, packed, True, True, frame.rsv2, frame.rsv3)


class SharedDeflateFactory(ServerPerMessageDeflateFactory):
    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        answer, negotiated = super().process_request_params(params, accepted_extensions)
        return answer, SharedDeflate(
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
            negotiated.compress_settings,
        )


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn.available_extensions = [
                SharedDeflateFactory(
                    server_no_context_takeover=True,
                    server_max_window_bits=WINDOW_BITS,
                    client_max_window_bits=WINDOW_BITS,
                    compress_settings=COMPRESS_SETTINGS,
                )
            ]
