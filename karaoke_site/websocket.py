"""The web server's WebSocket protocol: uvicorn's own, whose permessage-deflate compresses a
message once per process for all the sockets that send it, not once per socket.

A room's change goes to every watcher in the process as the same text (one JSON string for
every API client, common/fanout.py and queue_app/consumers.py). With the compression
browsers and clients negotiate by default ("context takeover"), each socket keeps its own
compressor, whose output depends on everything that socket sent before: the process
compressed the same 30-50 KB queue once per socket, about half of its event loop's busy
time at a party of 200 phones (bench/README.md, party_load.py). Here the server asks for
`server_no_context_takeover`, which RFC 7692 (7.1.1.1) lets a server require and every
client must accept: each message is compressed on its own, so one text gives the same bytes
on every socket, and the last few are kept. Messages the server receives are untouched.

Hand-written because neither uvicorn nor websockets has the option: uvicorn builds its
`ServerPerMessageDeflateFactory` itself, so this class replaces the factory after uvicorn's
constructor and keeps everything else of the protocol. `manage.py serve` runs uvicorn
with `--ws karaoke_site.websocket:WebSocketProtocol`.
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

# Below this a message is compressed for its socket alone: a lookup would cost about what
# compressing it does.
SHARE_FROM_BYTES = 2048
# The texts most recently compressed, (window bits, text, compressed): a change is sent to
# every watcher before the next one, so a few suffice.
RECENT = 8
# uvicorn's own settings (websockets_sansio_impl): a 4 KB window and a small memory level
# cost each socket about 16 KB instead of about 260 KB at zlib's defaults.
WINDOW_BITS = 12
COMPRESS_SETTINGS = {"memLevel": 5}

_recent: deque = deque(maxlen=RECENT)
_lock = threading.Lock()  # one event loop per process, but a test may run several


def compress(data: bytes, window_bits: int, settings: dict) -> bytes:
    """One message on its own, as permessage-deflate frames it (RFC 7692 7.2.1): deflated,
    flushed, and without the flush's final empty block."""
    encoder = zlib.compressobj(wbits=-window_bits, **settings)
    packed = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
    return packed[:-4]


class SharedDeflate(PerMessageDeflate):
    """permessage-deflate without the server's context takeover, each large message
    compressed once for every socket that sends it."""

    def encode(self, frame: Frame) -> Frame:
        if (frame.opcode in CTRL_OPCODES or frame.opcode is CONT or not frame.fin
                or not self.local_no_context_takeover or len(frame.data) < SHARE_FROM_BYTES):
            return super().encode(frame)
        data = bytes(frame.data)
        bits = self.local_max_window_bits
        packed = None
        with _lock:
            for known_bits, text, known in _recent:
                if known_bits == bits and text == data:
                    packed = known
                    break
        if packed is None:
            packed = compress(data, bits, self.compress_settings)
            with _lock:
                _recent.append((bits, data, packed))
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
