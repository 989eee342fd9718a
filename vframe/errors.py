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


class DecoderNotAllowed(Unsupported):
    """The video's decoder is not one the operator's codec policy (VFRAME_DECODERS) lets run."""

    def __init__(self, decoder: str) -> None:
        super().__init__(f"The video's codec ({decoder}) is not one this server decodes; "
                         "its operator can allow it with VFRAME_DECODERS.")
        self.decoder = decoder

    def __reduce__(self) -> tuple[type[DecoderNotAllowed], tuple[str]]:  # made again from its decoder (worker pipe)
        return (type(self), (self.decoder,))


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


class JobNotFound(VframeError):
    """No job has this persistentId (never submitted, or its status is past VFRAME_JOB_RETENTION): Qiniu's 612."""

    status = 612
    exit_code = 13
    default_message = "No job has this id: it was never submitted here, or its status has expired."


class QueueUnavailable(VframeError):
    """The job queue's storage (Redis, or the embedded SQLite file) failed or did not answer in time."""

    status = 503
    exit_code = 15
    default_message = "The job queue is not answering; try again shortly."


class FrontRefusal(VframeError):
    """What the HTTP front (front.py) answers by itself, before any route, to a request it cannot or
    will not read; the service only, never a CLI exit. Each kind has its own status; a malformed
    request shares 400 with a malformed spec: another failure, the same answer to the client."""

    status = 400
    exit_code = 14
    default_message = "The HTTP request is malformed."


class MalformedRequest(FrontRefusal):
    """The HTTP request itself is malformed (the parser's error), or HTTP/1.1 without exactly one Host."""


class HeaderTimeout(FrontRefusal):
    """The client did not finish sending its request headers within VFRAME_HEADER_TIMEOUT_SECONDS."""

    status = 408
    default_message = "The request headers did not arrive in time."


class HeadersTooLarge(FrontRefusal):
    """The request line and headers are longer, or the headers more, than the server reads."""

    status = 431
    default_message = "The request line and headers are larger than this server reads."


class TooManyConnections(FrontRefusal):
    """VFRAME_MAX_CONNECTIONS connections are open already: a new one is answered and closed."""

    status = 503
    default_message = "Too many connections are open; try again shortly."
