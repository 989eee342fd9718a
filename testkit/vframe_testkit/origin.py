"""A real HTTP origin for the tests, on 127.0.0.1: serves files from a folder with HEAD, Range,
ETag and If-Match like a web server or CDN, counts what it is asked for, and can be told to
misbehave (slow, 5xx, a body cut short, a wrong Content-Range, a redirect, the object replaced)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class Faults:
    delay_seconds: float = 0.0  # before answering
    status: int | None = None  # answer every request with this status
    cut_short: bool = False  # send half the body promised, then close
    wrong_range: bool = False  # a Content-Range other than the one asked for
    redirect_to: str | None = None  # 302 to this URL
    ignore_range: bool = False  # answer 200 with the whole body
    no_head: bool = False  # 405 to HEAD
    replace_after: int | None = None  # after this many GETs, the object's bytes (and ETag) change
    weak_etag: bool = False  # W/"...": the same meaning, not the same bytes


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    length: int  # body bytes sent


@dataclass
class Origin:
    root: Path
    url: str = ""
    faults: Faults = field(default_factory=Faults)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gets: int = 0

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults = Faults()
            self.gets = 0

    def bytes_sent(self, path: str | None = None) -> int:
        return sum(r.length for r in self.requests if path is None or r.path == path)

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def settled_count(self, path: str | None = None) -> int:
        """The count of requests (to `path`) once it stops changing: a request is recorded just
        after its answer is sent, so a client may hold the answer before it is counted."""
        last, since = self.count(path), time.monotonic()
        while time.monotonic() - since < 0.05:
            time.sleep(0.01)
            if (now := self.count(path)) != last:
                last, since = now, time.monotonic()
        return last


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest()[:20] + '"'


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head=False)

        def _send(self, status: int, headers: dict[str, str], body: bytes, promised: int | None = None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) if promised is None else promised))
            self.end_headers()
            self.wfile.write(body)
            with origin.lock:
                origin.requests.append(Request(self.command, self.path, self.headers.get("Range"), len(body)))

        def _answer(self, head: bool) -> None:
            faults = origin.faults
            if faults.delay_seconds:
                time.sleep(faults.delay_seconds)
            if faults.status is not None:
                self._send(faults.status, {}, b"" if head else b"origin failure")
                return
            if faults.redirect_to is not None:
                self._send(302, {"Location": faults.redirect_to}, b"")
                return
            if head and faults.no_head:
                self._send(405, {}, b"")
                return
            path = origin.root / unquote(self.path.split("?")[0]).lstrip("/")
            try:
                data = path.read_bytes()
            except OSError:
                self._send(404, {}, b"" if head else b"not found")
                return
            if not head:
                with origin.lock:
                    origin.gets += 1
                    replaced = faults.replace_after is not None and origin.gets > faults.replace_after
                if replaced:
                    data = data[::-1]
            etag = ("W/" if faults.weak_etag else "") + _etag(data)
            headers = {"ETag": etag, "Last-Modified": formatdate(path.stat().st_mtime, usegmt=True),
                       "Accept-Ranges": "bytes", "Content-Type": "video/mp4"}
            if_match = self.headers.get("If-Match")
            if if_match is not None and if_match != headers["ETag"]:
                self._send(412, {}, b"")
                return
            wanted = self.headers.get("Range")
            if wanted is None or faults.ignore_range or head:
                self._send(200, headers, b"" if head else data, promised=len(data) if head else None)
                return
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start = int(first) if first else len(data) - int(last)
            end = min(int(last) + 1, len(data)) if first and last else len(data)
            if start >= len(data):
                self._send(416, {"Content-Range": f"bytes */{len(data)}"}, b"")
                return
            shown = (start + 1, end + 1) if faults.wrong_range else (start, end)
            headers["Content-Range"] = f"bytes {shown[0]}-{shown[1] - 1}/{len(data)}"
            body = data[start:end]
            if faults.cut_short:
                self._send(206, headers, body[: len(body) // 2], promised=len(body))
                self.close_connection = True
                return
            self._send(206, headers, body)

    return Handler


@contextmanager
def serve_origin(root: Path) -> Iterator[Origin]:
    origin = Origin(root)
    with http_server(_handler(origin)) as url:
        origin.url = url
        yield origin


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 and a free port from a thread, until the block ends: its http://host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
