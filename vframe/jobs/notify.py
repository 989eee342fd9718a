"""notifyURL: a job's final status POSTed as JSON, as Qiniu does, tried again with backoff on a
failure (no answer, or not 2xx). The URL passes the CLI's public-address check at submission and
again at each try (DNS may have changed), unless VFRAME_ALLOW_PRIVATE_URLS=1; the connection goes
to the address that was checked."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import InvalidSpec, UpstreamFailed, VframeError
from ..settings import Settings
from ..sources.http import pinned, public_address, sni

log = logging.getLogger("vframe.jobs")
FIRST_BACKOFF_SECONDS = 0.5


def _post(url: str, body: bytes, settings: Settings) -> int:
    """One POST; the status it got. Its body is never read, and the whole try (a receiver that
    drips its headers a byte at a time included) ends within origin_timeout_seconds: past it the
    connection is closed under the waiting read."""
    address = public_address(url, settings)
    target, extra = pinned(url, address)
    seconds = settings.origin_timeout_seconds
    client = httpx.Client(timeout=seconds)
    closer = threading.Timer(seconds, client.close)
    closer.daemon = True
    closer.start()
    try:
        with client.stream("POST", target, content=body, headers={"Content-Type": "application/json", **extra},
                           extensions=sni(url, address)) as response:
            return response.status_code
    except Exception as error:
        if not closer.is_alive():
            raise httpx.TimeoutException(f"no answer within {seconds:g} s") from error
        raise
    finally:
        closer.cancel()
        client.close()


def check_url(url: str, settings: Settings) -> None:
    """InvalidSpec (400) for a URL that is not http(s); Forbidden (403) for a private address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSpec("notifyURL must be an http(s) URL.")
    try:
        public_address(url, settings)
    except UpstreamFailed:
        raise InvalidSpec(f"notifyURL's host {parts.hostname} could not be resolved.") from None


def notify(url: str, status: dict[str, Any], settings: Settings) -> bool:
    """POST `status` to `url`; True once it answered 2xx, False when every try failed."""
    body = json.dumps(status, separators=(",", ":")).encode()
    delay = FIRST_BACKOFF_SECONDS
    for attempt in range(settings.notify_retries + 1):
        try:
            answer = _post(url, body, settings)
            if 200 <= answer < 300:
                return True
            why = f"HTTP {answer}"
        except (httpx.HTTPError, VframeError) as error:
            why = type(error).__name__
        log.warning("job %s notify %s failed (%s), try %d", status["id"], url, why, attempt + 1)
        if attempt < settings.notify_retries:
            time.sleep(delay)
            delay *= 2
    return False
