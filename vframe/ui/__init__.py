"""The service's own page, /-/ui/: browse the source's videos, play and scrub them with their
storyboard, see the poster and the probe facts, build a spec and copy its URL. On with VFRAME_UI=1
(`make run` sets it), off by default: then every /-/ui/ path is 404.

The page is three files served from the package (index.html, ui.css, ui.js: no build step, no
CDN, nothing fetched from elsewhere) and talks to a few small JSON endpoints:

    GET /-/ui/api/source              what the source is: folder, s3 or origin; listable; signing on
    GET /-/ui/api/videos?after=&limit= a page of the source's videos (sources/listing.py)
    GET /-/ui/api/probe?key=          `vframe probe` of a video, run by a decode worker (hostile files)
    GET /-/ui/api/sign?target=        /<key>?<spec> signed, for a browser on this machine only

The page never holds a secret key. With signing on, the URLs it fetches are signed by the
server, and only for a client on a loopback address whose request came through no proxy (no
Forwarded, X-Forwarded-For or X-Real-IP header): the operator's own browser. Anyone else is 403,
and so is every request to sign while signing is off."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import Forbidden, InvalidSpec, SourceNotFound
from ..probe import PROBE
from ..signing import sign
from ..sources.listing import list_videos

if TYPE_CHECKING:
    from ..server import Service

PREFIX = "/-/ui/"
SIGNED_SECONDS = 3600  # how long a URL the page signs stays valid
_FILES = {"": ("index.html", "text/html; charset=utf-8"), "ui.css": ("ui.css", "text/css; charset=utf-8"),
          "ui.js": ("ui.js", "text/javascript; charset=utf-8")}
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
           "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_NO_STORE = {"Cache-Control": "no-store"}


def _read(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


class UserPage:
    """The page and its endpoints, answered for the service they belong to."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.files = {path: (_read(name), media_type) for path, (name, media_type) in _FILES.items()}

    async def respond(self, request: Request, path: str, started: float) -> Response:
        if path == PREFIX[:-1]:
            return RedirectResponse(PREFIX, status_code=308)
        name = path[len(PREFIX):]
        if name in self.files:
            data, media_type = self.files[name]
            return Response(data, media_type=media_type, headers={
                "Cache-Control": "no-cache", "Content-Security-Policy": _POLICY, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer"})
        if name == "api/source":
            return _json(self.source())
        if name == "api/videos":
            return _json(await self.videos(request))
        if name == "api/probe":
            return await self.probe(request, started)
        if name == "api/sign":
            return _json(self.sign(request))
        raise SourceNotFound("No such page.")

    def source(self) -> dict[str, object]:
        settings = self.service.settings
        kind = "folder" if settings.root else "s3" if settings.s3 else "origin"
        return {"kind": kind, "listable": kind != "origin", "signing": self.service.signer is not None,
                "max_width": settings.max_width, "max_height": settings.max_height}

    async def videos(self, request: Request) -> dict[str, object]:
        settings = self.service.settings
        after = request.query_params.get("after", "")
        limit_text = request.query_params.get("limit", str(settings.ui_page_size))
        if not re.fullmatch(r"[0-9]{1,6}", limit_text) or not 1 <= int(limit_text) <= settings.ui_page_size:
            raise InvalidSpec(f"limit must be a whole number from 1 to {settings.ui_page_size}.")
        if len(after) > 4096 or "\x00" in after:
            raise InvalidSpec("after must be a key of this source.")
        page = await asyncio.to_thread(list_videos, self.service.library, after, int(limit_text))  # disk or S3
        return page.as_json()

    async def probe(self, request: Request, started: float) -> Response:
        key = request.query_params.get("key", "")
        source = await self.service.find(key, started)
        pool = self.service.pool
        assert pool is not None, "the service's lifespan has not started"
        result = await pool.make(source, PROBE, started)
        return Response(result.data, media_type=result.media_type, headers=_NO_STORE)

    def sign(self, request: Request) -> dict[str, object]:
        signer = self.service.signer
        if signer is None:
            raise Forbidden("Signing is off on this server: its URLs need no signature.")
        if not _local(request):
            raise Forbidden("This page signs URLs only for a browser on the server's own machine; "
                            "sign them with your own key (see the README's Signed URLs).")
        target = request.query_params.get("target", "")
        if not target.startswith("/") or target.startswith("//") or any(c in target for c in "#\r\n\x00 "):
            raise InvalidSpec("The URL to sign must be a path on this server, such as /demo.mp4?vframe/jpg/offset/7.")
        access, secret = next(iter(signer.keys.items()))
        base = signer.base or f"{request.url.scheme}://{request.headers.get('host', '')}"
        deadline = int(time.time()) + SIGNED_SECONDS
        return {"url": sign(base + target, access, secret.decode(), deadline), "expires": deadline}


def _local(request: Request) -> bool:
    """A client on a loopback address, with no sign of a proxy in between, asking for a loopback
    host by name or address (a page of another site that a DNS answer re-points to 127.0.0.1
    still names its own host: DNS rebinding) from this page itself or from no page at all."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    try:
        named_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        named_loopback = False
    if not named_loopback:
        return False
    client = request.scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def _json(body: dict[str, object]) -> Response:
    return JSONResponse(body, headers=_NO_STORE)
