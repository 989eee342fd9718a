"""The HTTP service: a Starlette application that answers `GET /<key>?vframe/...` with the frame,
`GET /<key>?vsample/...` with a sprite sheet or a storyboard, and `GET /<key>` with the video
itself, from a folder of videos, an HTTP origin or S3.

    vframe serve --root ./videos                  # the command line (uvicorn inside)
    vframe serve --origin https://videos.example.com/media/
    vframe serve --s3 s3://bucket/prefix [--s3-endpoint http://minio:9000]
    VFRAME_ROOT=./videos uvicorn vframe.server:app  # any ASGI server: settings from VFRAME_*

A request flows one way: method -> key -> spec -> source -> limits -> conditional -> cache ->
worker pool -> response. Every failure is a VframeError carrying its status and public message;
one function (`error_response`) turns it into the JSON answer."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import mimetypes
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote, unquote_to_bytes

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from . import ENGINE_VERSION, front
from .cache import Key, ResultCache
from .errors import Forbidden, JobNotFound, MethodNotAllowed, SourceNotFound, UpstreamTimeout, VframeError
from .jobs import JOB_PATHS, Jobs, jobs_of
from .limits import check_source_size
from .memo import Memo
from .metrics import CONTENT_TYPE, Metrics
from .products import Links, Result
from .settings import Settings
from .signing import Signer
from .sources import Library, LocalFolder, Source, library
from .sources.listing import is_video_name
from .sources.proxy import relay_video
from .spec import PreviewSpec, SampleSpec, Spec, parse
from .store import shared_store
from .ui import PREFIX as UI_PREFIX
from .ui import UserPage
from .workers import WorkerPool

access_log = logging.getLogger("vframe.access")
log = logging.getLogger("vframe.server")

METHODS = ("GET", "HEAD")
INTERNAL_ERROR = "Something went wrong inside vframe; the error has been logged."
KEPT_SPECS = 1024  # parsed specs remembered, by their text...
KEPT_SPEC_BYTES = 200  # ...when it is no longer than this (a valid spec can be padded: 7.000...)
KEPT_ETAGS = 4096  # ETags remembered, by cache key
CONDITIONS = (b"if-none-match", b"if-modified-since")


def create_app(settings: Settings) -> Starlette:
    """The ASGI application serving `settings.root`. Its decode workers start with the app's lifespan."""
    service = Service(settings)
    app = _Application(lifespan=service.lifespan)
    app.router.default = service  # no routes: the service answers every path and method itself
    app.state.service = service
    return app


class _Application(Starlette):
    """Starlette for the lifespan; an HTTP request goes straight to the service, which answers
    every path, method and error itself: Starlette's middleware and router would add only time."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.router.default(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.library: Library = library(settings)
        self.signer = Signer.from_settings(settings)
        # Looking a key up at an origin or S3 is a blocking request: off the event loop, here.
        self._lookups = ThreadPoolExecutor(32, thread_name_prefix="vframe-lookup")
        self.metrics = Metrics()
        self.cache = ResultCache(settings.cache_bytes)
        self.store = shared_store(settings, self.metrics)  # None: the memory cache only
        self._memory_hits = self.metrics.store_hits.labels("memory")
        self._memory_misses = self.metrics.store_misses.labels("memory")
        self.pool: WorkerPool | None = None
        self.page = UserPage(self) if settings.ui else None
        self._making: dict[Key, asyncio.Task[Result]] = {}
        self._specs: Memo[bytes, Spec] = Memo(KEPT_SPECS)
        self._etags: Memo[Key, str] = Memo(KEPT_ETAGS)
        self.cache_control = f"public, max-age={settings.cache_max_age}"
        self.metrics.gauge("vframe_cache_bytes", "Bytes of images in the result cache.", lambda: self.cache.bytes)
        self.metrics.gauge("vframe_cache_entries", "Images in the result cache.", lambda: len(self.cache))
        self.metrics.gauge("vframe_queue_depth", "Frames waiting for a worker.", lambda: self._pool_status("queued"))
        self.metrics.gauge("vframe_workers_ready", "Decode workers alive.", lambda: self._pool_status("workers_ready"))
        self.metrics.gauge("vframe_decodes_in_progress", "Frames being made now.", lambda: self._pool_status("busy"))
        jobs = jobs_of(self)
        self.jobs: Jobs | None = jobs if isinstance(jobs, Jobs) else None
        self.jobs_off = jobs if isinstance(jobs, str) else ""  # why there are none: what /pfop/ answers
        if self.jobs is None and settings.signing_keys.strip():
            log.warning("jobs are off: %s", self.jobs_off)

    def _pool_status(self, name: str) -> float:
        return float(self.pool.status()[name]) if self.pool is not None else 0.0

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.pool = WorkerPool(self.settings, self.metrics)
        await self.pool.start()
        log.info("%d decode workers ready", self.pool.size)
        if self.jobs is not None:
            self.jobs.start(self.pool, asyncio.get_running_loop())
        try:
            yield
        finally:
            if self.jobs is not None:
                self.jobs.stop()
            await self.pool.close()
            if self.store is not None:
                self.store.close()
            self._lookups.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        request = Request(scope, receive)
        reqid = os.urandom(8).hex()
        scope["vframe.reqid"] = reqid
        note: dict[str, str] = {}
        try:
            response = await self.respond(request, started, note)
        except VframeError as error:
            response = error_response(error.status, error.message)
        except Exception:
            log.exception("request %s failed", reqid)
            response = error_response(500, INTERNAL_ERROR)
        response.headers["X-Reqid"] = reqid
        await response(scope, receive, send)  # every response of ours knows its status and length before it is sent
        elapsed = time.monotonic() - started
        self.metrics.count_request(response.status_code, elapsed)
        if access_log.isEnabledFor(logging.INFO):  # the line is put together only to be written
            access_log.info(
                f'{reqid} {_client(scope)} "{request.method} {_target(scope)}" {response.status_code} '
                f'{response.headers.get("content-length", "-")} {elapsed * 1000:.1f}ms'
                + "".join(f" {name}={value}" for name, value in note.items())
            )

    async def respond(self, request: Request, started: float, note: dict[str, str]) -> Response:
        scope = request.scope
        path = _decoded_path(scope)
        if path in JOB_PATHS:
            if self.jobs is None:
                raise Forbidden(self.jobs_off)
            return await self.jobs.api.answer(request, path, scope["vframe.reqid"])
        if request.method not in METHODS:
            raise MethodNotAllowed()
        if path == "/-/healthz":
            return self.health()
        if path == "/-/metrics":
            return Response(self.metrics.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
        if self.page is not None and (path + "/").startswith(UI_PREFIX):
            return await self.page.respond(request, path, started)
        if path.startswith("/-/"):  # reserved for the service's own pages
            raise SourceNotFound()
        query: bytes = scope.get("query_string", b"")
        cache_control = self.cache_control
        if self.signer is not None:
            deadline = self.signer.check(_request_base(scope, request), scope.get("raw_path") or path.encode(), query)
            # no cache (nginx's, a CDN's, the browser's) may answer a signed URL after it expires
            cache_control = f"public, max-age={max(0, min(self.settings.cache_max_age, deadline - int(time.time())))}"
        spec_text = query.split(b"&", 1)[0]  # after the first &: reserved for URL signing
        if not spec_text or spec_text.startswith((b"e=", b"token=")):  # the video itself (perhaps signed)
            return self.video(await self.find(path[1:], started), request, path, cache_control)
        spec = self.spec(spec_text)
        source = await self.find(path[1:], started)
        check_source_size(source.size, self.settings)
        links = self.links(scope, request, query) if isinstance(spec, SampleSpec) and spec.is_storyboard else None
        key = cache_key(source, spec, self.settings, links)
        headers = {"ETag": self.etag(key), "Cache-Control": cache_control}
        if source.modified is not None:
            headers["Last-Modified"] = http_date(source.modified)
        conditions = _conditions(scope)
        # An ETag of ours names a frame that was made, so its match needs no work. `*` and dates
        # only count once the frame exists: a file that gives no frame answers its error, not 304.
        if not_modified(conditions, headers["ETag"], None, exact_only=True):
            note["cache"] = "304"
            return Response(status_code=304, headers=headers)
        result, hit = await self.product(key, source, spec, started, links)
        note["cache"] = "hit" if hit else "miss"
        field, header, value = result.described
        note[field] = value
        if not_modified(conditions, headers["ETag"], source.modified):
            note["cache"] = "304"
            return Response(status_code=304, headers=headers)
        headers[header] = value
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(result.data))
            return Response(b"", media_type=result.media_type, headers=headers)
        return Response(result.data, media_type=result.media_type, headers=headers)

    def spec(self, text: bytes) -> Spec:
        """The query's spec, parsed once per distinct text: a service sees the same few specs over and over."""
        spec = self._specs.get(text)
        if spec is None:
            spec = parse(unquote(text.decode("latin-1")), self.settings)
            if len(text) <= KEPT_SPEC_BYTES:
                self._specs.keep(text, spec)
        return spec

    def etag(self, key: Key) -> str:
        """The product's ETag, hashed once per cache key."""
        etag = self._etags.get(key)
        return etag if etag is not None else self._etags.keep(key, '"' + _digest(*key) + '"')

    def links(self, scope: Scope, request: Request, query: bytes) -> Links:
        """How a storyboard asked for by this request names its sheets: relative to its own URL,
        and signed with the request's own key and deadline when signing is on (checked already)."""
        raw_path = (scope.get("raw_path") or b"/").decode("latin-1")
        name = raw_path.rsplit("/", 1)[-1]
        if self.signer is None:
            return Links(name)
        signed, _, token = query.decode("latin-1").rpartition("&token=")
        deadline = int(signed.rpartition("e=")[2])
        base = self.signer.base or _request_base(scope, request)
        return Links(name, (base + raw_path, token.partition(":")[0], deadline))

    async def find(self, key: str, started: float) -> Source:
        if isinstance(self.library, LocalFolder):  # a stat: quicker than a thread hop
            return self.library.find(key)
        source = await asyncio.get_running_loop().run_in_executor(self._lookups, self.library.find, key)
        if time.monotonic() > started + self.settings.deadline_seconds:
            raise UpstreamTimeout(
                "The video's origin was too slow: looking the video up ran past the deadline of "
                f"{self.settings.deadline_seconds:g} seconds."
            )
        return source

    async def product(self, key: Key, source: Source, spec: Spec, started: float,
                      links: Links | None) -> tuple[Result, bool]:
        """The product from the cache, or made once however many requests ask for it at the same time."""
        cached = self.cache.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            self._memory_hits.inc()
            return cached, True
        self.metrics.cache_misses.inc()
        self._memory_misses.inc()
        making = self._making.get(key)
        if making is None:
            making = asyncio.create_task(self._make(key, source, spec, started, links))
            self._making[key] = making
            making.add_done_callback(functools.partial(self._made, key))
        return await asyncio.shield(making), False

    async def _make(self, key: Key, source: Source, spec: Spec, started: float, links: Links | None) -> Result:
        assert self.pool is not None, "the service's lifespan has not started"
        if self.store is not None:
            stored = await self.store.get(key)
            if stored is not None:
                self.cache.put(key, stored)
                return stored
        result = await self.pool.make(source, spec, started, links)
        self.metrics.observe_steps(result.seconds)
        self.cache.put(key, result)
        if self.store is not None:
            self.store.put_later(key, result)
        return result

    def _made(self, key: Key, task: asyncio.Task[Result]) -> None:
        self._making.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so that a failure nobody waits for any more is not logged as lost

    def video(self, source: Source, request: Request, path: str, cache_control: str) -> Response:
        """The video itself, as stored: Range, If-Range, HEAD, ETag, 304; relayed block by block from
        any source (never held whole), so that every source answers ranges alike."""
        etag = '"' + _digest(source.identity, source.validator) + '"'
        headers = {"ETag": etag, "Cache-Control": cache_control}
        if source.modified is not None:
            headers["Last-Modified"] = http_date(source.modified)
        if not_modified(request.headers, etag, source.modified):
            return Response(status_code=304, headers=headers)
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return relay_video(source, request, media_type, headers, self._lookups)

    def health(self) -> Response:
        status = self.pool.status() if self.pool is not None else {"workers_ready": 0}
        healthy = status["workers_ready"] > 0
        body = {"status": "ok" if healthy else "no decode worker is ready", **status,
                "open_files_limit": front.open_file_limit()}
        return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})


def error_response(status: int, message: str) -> Response:
    """The one shape of every failure: JSON with one sentence, never stored by a cache."""
    headers = {"Cache-Control": "no-store"}
    if status == MethodNotAllowed.status:
        headers["Allow"] = ", ".join(METHODS)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def cache_key(source: Source, spec: Spec, settings: Settings, links: Links | None) -> Key:
    """Everything that changes a product's bytes: the video's version, the canonical spec, the engine,
    a storyboard's links, and the settings that change them (the format's own: JPEG/WebP/AVIF quality,
    PNG level; and the size limits). The memory cache's and a shared store's key; its hash is the
    strong ETag."""
    limits = f"{settings.max_width}x{settings.max_height}"
    if isinstance(spec, SampleSpec):
        limits += f"/{settings.max_tiles}/{settings.max_sheet_pixels}"
    if isinstance(spec, PreviewSpec):
        limits += f"/{settings.max_preview_side}"
    return (source.identity, source.validator, str(spec), ENGINE_VERSION, BUILD, _policy(settings.decoders),
            *_linked(links, settings), spec.output.output_key(settings), limits)


def _build() -> str:
    """The libraries whose versions can change a product's bytes (FFmpeg's decoders and scalers,
    Pillow's encoders and quantizer): replicas of different builds share no stored entry."""
    import av
    import PIL
    from PIL import features

    ffmpeg = ",".join(f"{name}{'.'.join(map(str, version))}" for name, version in sorted(av.library_versions.items()))
    return f"av{av.__version__};{ffmpeg};pil{PIL.__version__};liq{features.version('libimagequant') or '-'}"


BUILD = _build()


@functools.lru_cache(maxsize=8)
def _policy(decoders: str) -> str:
    """The codec policy's allowed decoders, as a digest: a replica that refuses a codec (415) never
    serves another's stored frame of it, and a different decoder for a codec is another picture."""
    from .decoders import allowed

    return hashlib.sha256(",".join(sorted(allowed(decoders))).encode()).hexdigest()[:16]


def _request_base(scope: Scope, request: Request) -> str:
    """The scheme://host a request came to, as a client signing its URL sees it."""
    return f"{scope.get('scheme', 'http')}://{request.headers.get('host', '')}"


def _linked(links: Links | None, settings: Settings) -> tuple[str, ...]:
    """What of a storyboard's links its bytes depend on (its sheet URLs), for the cache key: with
    signing, the signed URL, the access key, the deadline and a digest of that key's secret (a
    secret rotated under the same access key signs other links)."""
    if links is None:
        return ()
    if links.signing is None:
        return (links.name,)
    return (links.name, *(str(part) for part in links.signing), _secret_digest(settings.signing_keys, links.signing[1]))


@functools.lru_cache(maxsize=16)
def _secret_digest(signing_keys: str, access_key: str) -> str:
    signer = Signer.from_settings(Settings(signing_keys=signing_keys))
    secret = signer.keys.get(access_key, b"") if signer is not None else b""
    return hashlib.sha256(b"vframe-links\0" + secret).hexdigest()[:16]


def not_modified(headers: Mapping[str, str], etag: str, modified: float | None, *, exact_only: bool = False) -> bool:
    """RFC 9110: If-None-Match (weak comparison) wins over If-Modified-Since. With `exact_only`,
    only a listed ETag counts (not `*`, not a date)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return ("*" in tags and not exact_only) or any(tag.removeprefix("W/") == etag for tag in tags)
    if exact_only:
        return False
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:  # HTTP dates are GMT
        return False
    return int(modified) <= since.timestamp()


@functools.lru_cache(maxsize=1024)
def http_date(seconds: float) -> str:
    """Last-Modified's text, made once per date."""
    return formatdate(seconds, usegmt=True)


def _conditions(scope: Scope) -> dict[str, str]:
    """The request's If-None-Match and If-Modified-Since (the first of each), read in one pass."""
    return {name.decode(): value.decode("latin-1") for name, value in reversed(scope["headers"]) if name in CONDITIONS}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _decoded_path(scope: Scope) -> str:
    """The request path percent-decoded exactly once (so `%252e` stays the name `%2e`). A path that
    is not UTF-8 once decoded cannot name a file here."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:  # a server that gives only the decoded path
        return str(scope["path"])
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceNotFound() from None


def _target(scope: Scope) -> str:
    """The request target as the log shows it: the raw path and query, control characters escaped."""
    raw = scope.get("raw_path") or str(scope.get("path", "")).encode()
    query = scope.get("query_string", b"")
    target = raw + (b"?" + query if query else b"")
    text = target[:2000].decode("ascii", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


class _FromEnvironment:
    """`vframe.server:app` for any ASGI server: the application built from VFRAME_* on first use."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app(Settings.from_env())
        await self._app(scope, receive, send)


app = _FromEnvironment()


def serve(settings: Settings) -> None:
    """Run the service on uvicorn until SIGINT or SIGTERM."""
    configure_logging()
    open_files = front.raise_open_file_limit()
    _know_status_lines()
    application = create_app(settings)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = _listen(settings.host, settings.port, family)
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    base = f"http://{shown}:{port}"
    where = settings.root or settings.origin or settings.s3
    print(f"vframe: serving {where} on {base}/", flush=True)
    service = application.state.service
    example = _example_key(service.library.root) if isinstance(service.library, LocalFolder) else None
    if example is not None:
        print(f"vframe: try  curl -o frame.jpg '{base}/{quote(example)}?vframe/jpg/offset/7/w/480/h/360'", flush=True)
        print(f"vframe: or   curl -o sheet.jpg '{base}/{quote(example)}?vsample/jpg/interval/1/s/160x90'", flush=True)
        print(f"vframe: and  curl '{base}/{quote(example)}?vsample/vtt/interval/1/s/160x90'", flush=True)
    if settings.ui:
        print(f"vframe: see it work in a browser: {base}{UI_PREFIX}  (VFRAME_UI=0 turns the page off)", flush=True)
    protocol = front.protocol_class(settings, open_files)
    print(f"vframe: open-file limit {open_files}, at most {protocol.max_connections} connections, "
          f"{settings.header_timeout_seconds:g} s for a request's headers", flush=True)
    config = uvicorn.Config(
        application, http=protocol, log_config=None, access_log=False, lifespan="on", server_header=False,
        timeout_graceful_shutdown=10, backlog=2048,
    )
    _FrontServer(config).run(sockets=[listener])


class _FrontServer(uvicorn.Server):
    """uvicorn's server, with the event loop's own errors (failed accepts) in vframe's log."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        front.log_loop_errors(asyncio.get_running_loop())
        await super().startup(sockets)


def _know_status_lines() -> None:
    """uvicorn's status lines cover 100-599; Qiniu's 612 (no such job) is one of ours too."""
    from uvicorn.protocols.http import h11_impl, httptools_impl

    for status, phrase in ((JobNotFound.status, "No Such Job"),):
        httptools_impl.STATUS_LINE.setdefault(status, f"HTTP/1.1 {status} {phrase}\r\n".encode())
        h11_impl.STATUS_PHRASES.setdefault(status, phrase.encode())


def _listen(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """The listening socket. Made with IPPROTO_TCP (not socket.create_server's protocol 0) so that
    asyncio turns Nagle's algorithm off on every connection: otherwise a response written as
    headers then body waits ~40 ms for the client's delayed ACK on a kept-alive connection."""
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    return listener


def _example_key(root: Path) -> str | None:
    """A video at the top of the root, for the example URL printed at start (the first few entries only)."""
    with os.scandir(root) as entries:
        names = sorted(entry.name for _, entry in zip(range(1000), entries, strict=False) if entry.is_file())
    return next((name for name in names if is_video_name(name)), None)


def configure_logging() -> None:
    # Our lines show none of the caller, thread or process: not gathered (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(_LineFormatter())
    for name in ("vframe", "uvicorn"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _LineFormatter(logging.Formatter):
    """"%(asctime)s %(name)s %(message)s" as logging's Formatter writes it, for less: the line is put
    together directly (unless it carries an exception or a stack) and the date made once a second."""

    _second: tuple[int, str] = (-1, "")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        return f"{self.formatTime(record)} {record.name} {record.getMessage()}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"  # as logging's default_msec_format, "%s,%03d"


__all__ = ["Service", "app", "create_app", "serve"]
