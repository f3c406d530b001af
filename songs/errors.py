"""Errors raised by the adapters (yt-dlp, ffmpeg, Demucs, providers).

The adapters know nothing about jobs; they only say *what* went wrong (a short
``code`` for machines, a ``message`` a host understands) and whether trying
again later could help. The job runner turns ``transient`` into an automatic
retry with backoff and everything else into an immediate failure.
"""


class AdapterError(Exception):
    transient = False

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TransientError(AdapterError):
    """Network trouble, timeouts, 5xx, 429: worth another attempt later."""

    transient = True


class PermanentError(AdapterError):
    """404, unsupported link, not audio, too long: retrying cannot help."""


class Cancelled(Exception):
    """Raised from inside an adapter when its ``is_cancelled`` check says stop."""
