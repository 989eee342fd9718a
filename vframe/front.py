"""The HTTP front of `vframe serve`: uvicorn's httptools protocol, held against slow and oversized
clients. A connection has VFRAME_HEADER_TIMEOUT_SECONDS to send its request line and headers (from
its start, and from the first byte of its next request when kept alive): past it, 408. A request
body may pause no longer than that between two reads: past it, 408 if no response has started, and
the connection is closed (a broken body, too, closes it: the application never waits on it). The request
line and headers may be MAX_HEAD_BYTES long and MAX_HEADERS many: past either, 431 at once, and what
the client still sends is read and dropped, never kept. HTTP/1.1 needs exactly one Host (400). Past
VFRAME_MAX_CONNECTIONS open connections a new one is answered 503. Every answer of the front is the
service's JSON error with an X-Reqid, and the connection is closed after it.

This subclasses uvicorn's HttpToolsProtocol (its callbacks and fields are not a public API), so
pyproject.toml pins uvicorn to the minor versions it was tested with."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import HeadersTooLarge, HeaderTimeout, MalformedRequest, TooManyConnections, VframeError
from .settings import Settings

log = logging.getLogger("vframe.front")

MAX_HEAD_BYTES = 32 * 1024  # request line and headers (nginx's large_client_header_buffers: 4 x 8k)
MAX_HEADERS = 100
LINGER_SECONDS = 2.0  # after an error answer, what the client still sends is read and dropped this long
FD_RESERVE = 128  # open files kept for the process itself (worker pipes, lookups, logs, stores)
TALLY_SECONDS = 5.0  # the front's refusals are logged as one line per kind at most this often


def raise_open_file_limit() -> int:
    """The soft open-file limit raised to the hard one; the effective limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return int(soft)


def open_file_limit() -> int:
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def connection_cap(settings: Settings, open_files: int) -> int:
    """VFRAME_MAX_CONNECTIONS, or (0) the open-file limit less the process's reserve; never above that."""
    ceiling = max(1, open_files - FD_RESERVE)
    return min(settings.max_connections, ceiling) if settings.max_connections else ceiling


class Tally:
    """Counts of something that can happen thousands of times a second, logged as one line a kind
    every TALLY_SECONDS (the first at once): a storm of slow clients or store errors is seen, not
    written out line by line."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def count(self, kind: str, message: str) -> None:
        """One more `kind`; `message` (with `{n}`, the count since the last line) logged when due."""
        self._pending[kind] = self._pending.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last.get(kind, -TALLY_SECONDS) >= TALLY_SECONDS:
            self._last[kind] = now
            self.logger.warning(message.format(n=self._pending.pop(kind)))


def error_bytes(error: VframeError) -> bytes:
    """The service's JSON error (server.error_response's shape) as a whole HTTP/1.1 message that closes."""
    body = json.dumps({"error": error.message}, ensure_ascii=False, separators=(",", ":")).encode()
    return b"".join((
        STATUS_LINE[error.status], b"content-type: application/json\r\ncache-control: no-store\r\n",
        b"content-length: %d\r\nx-reqid: %s\r\nconnection: close\r\n\r\n" % (len(body), os.urandom(8).hex().encode()),
        body,
    ))


class _Refused(Exception):
    """Raised from a parser callback to stop parsing: the request is answered with `error`."""

    def __init__(self, error: VframeError) -> None:
        super().__init__(error.message)
        self.error = error


class _OneWrite:
    """A response's transport: what it writes in one turn of the event loop (uvicorn writes the status
    line and headers, then the body) goes out in one write. A replica killed mid-response then has
    sent all of a small response or none of it, and nginx, which cannot try the next replica once it
    has passed a response's headers on, sees a failure it can retry."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = [data]
            self._loop.call_soon(self._flush)
        else:
            self._held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class FrontProtocol(HttpToolsProtocol):
    """One connection. Class attributes set by `protocol_class` (one class per served settings)."""

    header_timeout: float = 10.0
    max_connections: int = 1000
    tally: Tally = Tally(log)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes received while the current request's head is unfinished
        self._in_head = True
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._answered = False  # an error answer was written: the rest is dropped, then the connection closes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self.transport = transport
            self.tally.count("cap", f"{{n}} connections refused with 503: VFRAME_MAX_CONNECTIONS "
                                    f"({self.max_connections}) are open")
            self._answered = True
            transport.write(error_bytes(TooManyConnections()))
            transport.close()  # at once, no lingering: its descriptor is what the cap keeps free
            return
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        self._stop_body_timer()
        if self.flow is None:  # refused at connection_made: never counted as a connection
            self.parser = None
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # read and dropped until the linger ends
        self._unset_keepalive_if_required()
        if self._in_head:  # (kept at most MAX_HEAD_BYTES and one read's worth: checked after each read)
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _Refused as refused:
            self._refuse(refused.error)
        except httptools.HttpParserUpgrade:
            self._refuse(MalformedRequest("Protocol upgrades are not served here."))
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, _Refused):
                self._refuse(cause.error)
            else:
                self.tally.count("parser", "{n} requests the HTTP parser refused (400)")
                self._refuse(MalformedRequest())
        else:
            if self._in_head:  # a head not finished by this read: its timer runs (from its connection, or now)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse(HeadersTooLarge())
                elif self._header_timer is None:
                    self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._stop_header_timer()
        self._in_head = False
        if self._head_bytes > MAX_HEAD_BYTES and len(self.url) + sum(
                len(name) + len(value) + 4 for name, value in self.headers) > MAX_HEAD_BYTES:
            raise _Refused(HeadersTooLarge())  # a head that came whole in one large read
        if len(self.headers) > MAX_HEADERS:
            raise _Refused(HeadersTooLarge(f"A request may have at most {MAX_HEADERS} headers."))
        self._head_bytes = 0
        if self.parser.get_http_version() == "1.1":
            hosts = sum(1 for name, _ in self.headers if name == b"host")
            if hosts != 1:
                raise _Refused(MalformedRequest(
                    "An HTTP/1.1 request needs one Host header." if hosts == 0
                    else "An HTTP/1.1 request may have only one Host header."
                ))
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = _OneWrite(self.transport, self.loop)  # type: ignore[assignment]
            self._start_body_timer()  # stopped at once when the request has no body (on_message_complete)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._stop_body_timer()
        self._start_body_timer()

    def on_message_complete(self) -> None:
        self._stop_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._in_head = True  # the next request's head is read now
            self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:  # uvicorn's own 400 (plain text), as our JSON
        self._refuse(MalformedRequest())

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _start_body_timer(self) -> None:
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self.header_timeout, self._body_timed_out)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        """No byte of a request's body for VFRAME_HEADER_TIMEOUT_SECONDS: 408 if no response has
        started (the application's own writes are dropped once the transport closes), and close;
        the application's receive() then gets the disconnect."""
        self._body_timer = None
        if self._answered or self.transport.is_closing():
            return
        self.tally.count("body", f"{{n}} connections closed: a request body stalled for "
                                 f"{self.header_timeout:g} s (VFRAME_HEADER_TIMEOUT_SECONDS)")
        self._answered = True
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(error_bytes(HeaderTimeout("The request's body stopped coming; it is not read.")))
        self.transport.close()

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._in_head and not self._answered and not self.transport.is_closing():
            self.tally.count("timeout", f"{{n}} connections answered 408: request headers not complete after "
                                        f"{self.header_timeout:g} s (VFRAME_HEADER_TIMEOUT_SECONDS)")
            self._refuse(HeaderTimeout())

    def _refuse(self, error: VframeError) -> None:
        if error.status == HeadersTooLarge.status:
            self.tally.count("large", "{n} requests answered 431: request line or headers too large")
        self._stop_header_timer()
        self._unset_keepalive_if_required()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a response is being written: it ends the connection, no answer of ours
            self._answered = True
            self._stop_body_timer()
            if self.cycle.more_body:  # its own body is broken: the application must not wait for the rest
                self.transport.close()  # (connection_lost tells it: disconnected)
            else:
                self.flow.pause_reading()
            return
        self._answer(error)

    def _answer(self, error: VframeError) -> None:
        """Write `error`, end our side, drop what the client still sends for LINGER_SECONDS, close."""
        self._answered = True
        transport = self.transport
        transport.write(error_bytes(error))
        try:
            transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            transport.close()
            return
        self.loop.call_later(LINGER_SECONDS, transport.close)


def protocol_class(settings: Settings, open_files: int) -> type[FrontProtocol]:
    """The protocol uvicorn runs for `settings` (its timeout and connection cap)."""
    return type("FrontProtocol", (FrontProtocol,), {
        "header_timeout": settings.header_timeout_seconds,
        "max_connections": connection_cap(settings, open_files),
        "tally": Tally(log),
    })


def log_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop's failed accepts (out of file descriptors...) and other OS errors in our log,
    counted instead of one traceback each; any other loop error goes to the default handler, with
    its traceback. (Under uvloop, which uvicorn picks when installed, libuv answers an EMFILE on
    accept itself, by accepting and closing the waiting connections, and tells no handler: the
    connection cap, below the open-file limit, is what keeps accepts from failing.)"""
    tally = Tally(log)

    def handle(running: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        message = str(context.get("message", ""))
        if "accept" not in message.lower() and not isinstance(error, OSError):
            running.default_exception_handler(context)  # anything else keeps its traceback
            return
        what = f"{message or 'event loop error'}: {error!r}" if error else message
        tally.count(type(error).__name__ if error else "loop", f"{{n}} x {what}")

    loop.set_exception_handler(handle)
