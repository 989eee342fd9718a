"""Every failure vframe reports: one class per failure class, each with its HTTP status,
its CLI exit code and a message a person understands (imgproxy's errors.go, in Python)."""

from __future__ import annotations


class VframeError(Exception):
    """Base class. `str(error)` is the public, one-sentence message: no paths, no tracebacks."""

    status = 500
    exit_code = 1
    default_message = "The frame could not be made."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidSpec(VframeError):
    """The spec string is malformed: unknown or repeated key, missing value, value out of range."""

    status = 400
    exit_code = 3
    default_message = "The vframe spec is malformed."


class Forbidden(VframeError):
    """URL signing is on and the signature is missing, wrong or expired."""

    status = 403
    exit_code = 4
    default_message = "The signature is missing, wrong or expired."


class SourceNotFound(VframeError):
    """No such video, or a key that escapes the source root."""

    status = 404
    exit_code = 5
    default_message = "No such video."


class MethodNotAllowed(VframeError):
    """An HTTP method other than GET or HEAD (the service only; the CLI has no methods)."""

    status = 405
    exit_code = 12  # never a CLI exit; distinct all the same
    default_message = "Only GET and HEAD are allowed."


class TooLarge(VframeError):
    """The source is over the operator's limits (file size, frame pixels, decoding work)."""

    status = 413
    exit_code = 6
    default_message = "The video is larger than this server allows."


class Unsupported(VframeError):
    """Output format not supported, or the source is not a video that can be decoded."""

    status = 415
    exit_code = 7
    default_message = "The source is not a video that can be decoded."


class Busy(VframeError):
    """Too many requests waiting: the queue is full."""

    status = 429
    exit_code = 8
    default_message = "Too many requests are waiting; try again shortly."


class UpstreamFailed(VframeError):
    """The HTTP origin or S3 failed or answered nonsense."""

    status = 502
    exit_code = 9
    default_message = "The video's origin failed."


class UpstreamTimeout(VframeError):
    """The origin was too slow, or the deadline passed while fetching."""

    status = 504
    exit_code = 10
    default_message = "The video's origin was too slow."


class ProcessingFailed(VframeError):
    """Corrupt or truncated stream, decoder failure, or the decoding deadline passed (Qiniu's 599)."""

    status = 599
    exit_code = 11
    default_message = "The frame could not be decoded."


class OutOfMemory(ProcessingFailed):
    """Decoding needed more memory than a worker may have (its address-space or resident limit)."""

    default_message = "Decoding this video needed more memory than this server allows."
