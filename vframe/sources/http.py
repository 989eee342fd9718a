"""Videos behind an HTTP(S) origin: a web server, a CDN, a bucket's public URL.

An object is found with a HEAD (or, where the origin refuses HEAD, a one-byte ranged GET), which
gives its size and validators. FFmpeg then reads it through a RangedReader whose every fetch is a
ranged GET pinned to that version: `If-Match` on a strong ETag, else `If-Unmodified-Since` on
Last-Modified, so a video replaced mid-request fails (502) instead of giving a mixed frame.

Redirects are never followed: a 3xx is a failed origin (502). Retries: at most two more attempts,
with backoff, for refused or reset connections and 5xx answers, within the request's deadline;
never for timeouts (504), since the time is already spent."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ..errors import Forbidden, SourceNotFound, UpstreamFailed, UpstreamTimeout
from ..limits import Budget
from ..settings import Settings
from .keys import NOT_FOUND, check_key
from .ranged import Reading, open_ranged, reading_of

_RETRIES = 2
_BACKOFF_SECONDS = (0.1, 0.4)
_GONE = {403, 404, 410}

_clients: dict[float, httpx.Client] = {}
_clients_lock = threading.Lock()


def client(timeout: float) -> httpx.Client:
    """One connection pool per process and timeout: keep-alive connections reused across requests."""
    with _clients_lock:
        found = _clients.get(timeout)
        if found is None:
            found = httpx.Client(
                timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                headers={"User-Agent": "vframe", "Accept-Encoding": "identity"},
            )
            _clients[timeout] = found
        return found


@dataclass(frozen=True)
class HttpObject:
    """One video at a URL, as it was when found: its size and validators. Picklable: it crosses to
    the decode workers, which open it."""

    url: str
    size: int
    etag: str | None
    last_modified: str | None  # the header, as the origin sent it
    timeout: float
    reading: Reading
    address: str | None = None  # connect here (a checked IP) instead of resolving the host again

    @property
    def identity(self) -> str:
        return self.url

    @property
    def validator(self) -> str:
        return self.etag or f"{self.size:x}-{self.last_modified or ''}"

    @property
    def modified(self) -> float | None:
        return _http_date(self.last_modified)

    def open(self, budget: Budget | None = None) -> BinaryIO:
        # A strong ETag names these exact bytes, so what is fetched may serve later requests.
        strong = self.etag is not None and not self.etag.startswith("W/")
        return open_ranged(self.size, self.fetch, budget, self.reading,
                           ("http", self.url, self.etag, self.size) if strong else None)

    def fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of this version of the object."""
        headers = {"Range": f"bytes={start}-{end - 1}"}
        if self.etag and not self.etag.startswith("W/"):
            headers["If-Match"] = self.etag
        elif self.last_modified:
            headers["If-Unmodified-Since"] = self.last_modified
        response = _with_retries(lambda: self._get(headers))
        if response.status_code == 412:
            raise UpstreamFailed("The video changed at its origin while it was being read.")
        _check_status(response, expected=206)
        expected_range = f"bytes {start}-{end - 1}/{self.size}"
        if response.headers.get("content-range", "").replace(" */", "/") != expected_range:
            raise UpstreamFailed("The video's origin answered a byte range other than the one asked for.")
        return response.content

    def _get(self, headers: dict[str, str]) -> httpx.Response:
        url, extra = pinned(self.url, self.address)
        return client(self.timeout).get(url, headers={**headers, **extra}, extensions=sni(self.url, self.address))


@dataclass(frozen=True)
class HttpOrigin:
    """The videos under one base URL: a key is appended to it, percent-encoded, and never leaves it."""

    base: str
    timeout: float
    reading: Reading

    @classmethod
    def at(cls, base: str, settings: Settings) -> HttpOrigin:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"the origin {base!r} must be an http(s):// URL without a query")
        if not base.endswith("/"):
            base += "/"
        return cls(base, settings.origin_timeout_seconds, reading_of(settings))

    def url(self, key: str) -> str:
        url = self.base + quote(check_key(key), safe="/!$&'()*+,;=:@-._~")
        if not url.startswith(self.base) or urlsplit(url).netloc != urlsplit(self.base).netloc:
            raise SourceNotFound(NOT_FOUND)
        return url

    def find(self, key: str) -> HttpObject:
        return find_object(self.url(key), self.timeout, self.reading)


def find_object(url: str, timeout: float, reading: Reading, address: str | None = None) -> HttpObject:
    """The object at `url`: HEAD, or a one-byte ranged GET where the origin refuses HEAD."""
    target, extra = pinned(url, address)
    tls = sni(url, address)
    http = client(timeout)
    response = _with_retries(lambda: http.head(target, headers=extra, extensions=tls))
    if response.status_code in (405, 501):
        response = _with_retries(lambda: http.get(target, headers={"Range": "bytes=0-0", **extra}, extensions=tls))
        _check_status(response, expected=206)
        size = _total_from_content_range(response.headers.get("content-range", ""))
    else:
        _check_status(response, expected=200)
        if response.headers.get("accept-ranges", "bytes").lower() == "none":
            raise UpstreamFailed("The video's origin does not serve byte ranges.")
        try:
            size = int(response.headers["content-length"])
        except (KeyError, ValueError):
            raise UpstreamFailed("The video's origin did not say how large the video is.") from None
    return HttpObject(url, size, response.headers.get("etag"), response.headers.get("last-modified"), timeout,
                      reading, address)


def public_object(url: str, settings: Settings) -> HttpObject:
    """An arbitrary http(s) URL from the CLI or the library: its host must resolve to public
    addresses only (not loopback, private, link-local, multicast or unspecified), unless
    allow_private_urls; the connection then goes to the address that was checked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceNotFound("No such video: the URL is not an http(s) URL.")
    address = public_address(url, settings)
    return find_object(url, settings.origin_timeout_seconds, reading_of(settings), address=address)


def public_address(url: str, settings: Settings) -> str:
    """The address to connect to for `url` (an http(s) URL): its host must resolve to public
    addresses only, unless allow_private_urls; Forbidden (403) naming the address otherwise."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        raise UpstreamFailed(f"The host {parts.hostname} could not be resolved.") from None
    if not settings.allow_private_urls:
        refused = sorted(address for address in addresses if not _is_public(address))
        if refused:
            raise Forbidden(
                f"vframe does not fetch from local or private addresses ({_naming(parts.hostname, refused[0])}); "
                "pass --allow-private-urls or set VFRAME_ALLOW_PRIVATE_URLS=1 to allow it."
            )
    return sorted(addresses)[0]


def _naming(host: str, address: str) -> str:
    return address if host.strip("[]") == address else f"{host} is {address}"


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str]]:
    """`url` with its host replaced by `address` and the Host header kept, so that DNS is not asked
    again between the check and the connection."""
    if address is None:
        return url, {}
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc.rpartition("@")[2]}


def sni(url: str, address: str | None) -> dict[str, str]:
    """TLS still names (and verifies) the original host when connecting to a pinned address."""
    parts = urlsplit(url)
    return {"sni_hostname": parts.hostname or ""} if address is not None and parts.scheme == "https" else {}


def _with_retries(call: Callable[[], httpx.Response]) -> httpx.Response:
    """`call`, tried again after refused or reset connections and 5xx answers; timeouts are 504."""
    for attempt in range(_RETRIES + 1):
        last = attempt == _RETRIES
        try:
            response = call()
        except httpx.TimeoutException:
            raise UpstreamTimeout("The video's origin was too slow to answer.") from None
        except (httpx.TransportError, httpx.DecodingError) as error:
            if last:
                raise UpstreamFailed(_transport_message(error)) from None
        else:
            if response.status_code < 500 or last:
                return response
        time.sleep(_BACKOFF_SECONDS[attempt])
    raise AssertionError("unreachable")


def _transport_message(error: Exception) -> str:
    if isinstance(error, httpx.ConnectError):
        return "The video's origin could not be reached."
    if isinstance(error, httpx.RemoteProtocolError):
        return "The video's origin broke off its answer."
    return "The video's origin failed while sending the video."


def _check_status(response: httpx.Response, expected: int) -> None:
    status = response.status_code
    if status == expected:
        return
    if status in _GONE:
        raise SourceNotFound(NOT_FOUND)
    if 300 <= status < 400:
        raise UpstreamFailed("The video's origin answered with a redirect, which vframe does not follow.")
    if status == 200 and expected == 206:
        raise UpstreamFailed("The video's origin ignored the byte range asked for.")
    raise UpstreamFailed(f"The video's origin failed (HTTP {status}).")


def _total_from_content_range(header: str) -> int:
    try:
        return int(header.rpartition("/")[2])
    except ValueError:
        raise UpstreamFailed("The video's origin did not say how large the video is.") from None


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


__all__ = ["HttpObject", "HttpOrigin", "find_object", "pinned", "public_address", "public_object"]
