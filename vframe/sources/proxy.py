"""`GET /<key>`: the video's bytes relayed as stored, one block at a time (never the whole video
in memory), from a file, an origin or S3 alike, with a single byte range honoured as players ask
for it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Executor

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import VframeError
from . import Source

log = logging.getLogger("vframe.proxy")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK_BYTES = 1024 * 1024


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """[start, end) of one `Range: bytes=...`; None to send the whole video (no header, several
    ranges, or a malformed one, which RFC 9110 lets a server ignore); "unsatisfiable" past the end."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        count = int(last)
        return (max(size - count, 0), size) if count > 0 else "unsatisfiable"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        return "unsatisfiable"
    return start, end


def relay_video(
    source: Source, request: Request, media_type: str, headers: Mapping[str, str], executor: Executor
) -> Response:
    size = source.size
    wanted = byte_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range not in (headers.get("ETag"), headers.get("Last-Modified")):
        wanted = None  # the client's copy is another version: send it all
    response_headers = {**headers, "Accept-Ranges": "bytes"}
    if wanted == "unsatisfiable":
        response_headers["Content-Range"] = f"bytes */{size}"
        return JSONResponse({"error": "The byte range asked for is past the end of the video."}, status_code=416,
                            headers={**response_headers, "Cache-Control": "no-store"})
    start, end = wanted if isinstance(wanted, tuple) else (0, size)
    status = 206 if isinstance(wanted, tuple) else 200
    if status == 206:
        response_headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response_headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(b"", status_code=status, media_type=media_type, headers=response_headers)

    async def body() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        for chunk_start in range(start, end, CHUNK_BYTES):
            chunk_end = min(chunk_start + CHUNK_BYTES, end)
            try:
                yield await loop.run_in_executor(executor, source.fetch, chunk_start, chunk_end)
            except VframeError as error:  # the status is sent: all that is left is to stop short
                log.warning("relaying the video stopped at byte %d: %s", chunk_start, error.message)
                return

    return StreamingResponse(body(), status_code=status, media_type=media_type, headers=response_headers)
