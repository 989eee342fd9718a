"""notifyURL: a job's final status POSTed as JSON, as Qiniu does, tried again with backoff on a
failure (no answer, or not 2xx). The URL passes the CLI's public-address check at submission and
again at each try (DNS may have changed), unless VFRAME_ALLOW_PRIVATE_URLS=1; the connection goes
to the address that was checked."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import InvalidSpec, VframeError
from ..settings import Settings
from ..sources.http import pinned, public_address, sni

log = logging.getLogger("vframe.jobs")
FIRST_BACKOFF_SECONDS = 0.5


def check_url(url: str, settings: Settings) -> None:
    """InvalidSpec (400) for a URL that is not http(s); Forbidden (403) for a private address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSpec("notifyURL must be an http(s) URL.")
    public_address(url, settings)


def notify(url: str, status: dict[str, Any], settings: Settings) -> bool:
    """POST `status` to `url`; True once it answered 2xx, False when every try failed."""
    body = json.dumps(status, separators=(",", ":")).encode()
    delay = FIRST_BACKOFF_SECONDS
    for attempt in range(settings.notify_retries + 1):
        try:
            address = public_address(url, settings)
            target, extra = pinned(url, address)
            with httpx.Client(timeout=settings.origin_timeout_seconds) as client:
                response = client.post(target, content=body, headers={"Content-Type": "application/json", **extra},
                                       extensions=sni(url, address))
            if 200 <= response.status_code < 300:
                return True
            why = f"HTTP {response.status_code}"
        except (httpx.HTTPError, VframeError) as error:
            why = type(error).__name__
        log.warning("job %s notify %s failed (%s), try %d", status["id"], url, why, attempt + 1)
        if attempt < settings.notify_retries:
            time.sleep(delay)
            delay *= 2
    return False
