"""The routes of persistent processing (API.md): `POST /pfop/` takes a job in, `GET
/status/get/prefop?id=` tells how it goes. Everything that can be checked at submission is: the
management token (403), the bucket and the video (404), every command's spec and output key
(400, 413, 415), the notifyURL (400, 403). The job then runs on the queue."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import JobNotFound, MethodNotAllowed, QueueUnavailable, SourceNotFound, TooLarge, Unsupported
from ..settings import Settings
from ..signing import Signer
from ..sources import Library
from . import auth
from .engine import Engine
from .fops import parse_fops
from .notify import check_url
from .status import new_record, qiniu_status

SUBMIT = ("/pfop", "/pfop/")
STATUS = "/status/get/prefop"
PATHS = (*SUBMIT, STATUS)
log = logging.getLogger("vframe.jobs")
T = TypeVar("T")
R = TypeVar("R")


class JobsApi:
    def __init__(self, settings: Settings, library: Library, engine: Engine, bucket: str, lookups: Executor) -> None:
        self.settings = settings
        self.library = library
        self.engine = engine
        self.bucket = bucket
        self.lookups = lookups
        signer = Signer.from_settings(settings)
        self.keys = signer.keys if signer is not None else {}

    async def answer(self, request: Request, path: str, reqid: str) -> Response:
        if path == STATUS:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed()
            return await self.status(request.query_params.get("id", ""))
        if request.method != "POST":
            return JSONResponse({"error": "Only POST submits a job."}, status_code=MethodNotAllowed.status,
                                headers={"Allow": "POST", "Cache-Control": "no-store"})
        return await self.submit(request, reqid)

    async def submit(self, request: Request, reqid: str) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.settings.job_max_form_bytes:
                raise TooLarge(f"The pfop form is larger than {self.settings.job_max_form_bytes} bytes.")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.scope["headers"]}
        if headers.get("content-type", "") != auth.FORM:
            # a QBox token signs the body only when it is this form: any other body would be unsigned
            raise Unsupported(f"pfop takes a form: Content-Type: {auth.FORM}.")
        raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        auth.check(self.keys, request.method, raw_path + (f"?{query}" if query else ""), headers, body)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        bucket, key, fops = form.get("bucket", ""), form.get("key", ""), form.get("fops", "")
        if bucket != self.bucket:
            raise SourceNotFound(f"No such bucket: this server's videos are in the bucket '{self.bucket}'.")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.lookups, self.library.find, key)  # 404 now, not as a failed job
        commands = parse_fops(fops, key, bucket, self.settings)
        notify_url = form.get("notifyURL", "")
        if notify_url:
            await loop.run_in_executor(self.lookups, check_url, notify_url, self.settings)
        job_id = os.urandom(12).hex()
        record = new_record(job_id, bucket, key, [(command.cmd, command.key) for command in commands], notify_url,
                            form.get("force", "") == "1", form.get("pipeline", ""), reqid)
        await loop.run_in_executor(self.lookups, _queue_call, self.engine.submit, record)
        return JSONResponse({"persistentId": job_id}, headers={"Cache-Control": "no-store"})

    async def status(self, job_id: str) -> Response:
        record = None
        if job_id:
            record = await asyncio.get_running_loop().run_in_executor(self.lookups, _queue_call, self.engine.find,
                                                                      job_id)
        if record is None:
            raise JobNotFound()
        return JSONResponse(qiniu_status(record), headers={"Cache-Control": "no-store"})


def _queue_call(call: Callable[[T], R], argument: T) -> R:
    """`call(argument)` on the queue's storage; QueueUnavailable (503) when that storage fails."""
    try:
        return call(argument)
    except Exception as error:
        log.warning("the job queue failed: %s: %s", type(error).__name__, error)
        raise QueueUnavailable() from None
