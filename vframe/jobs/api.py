"""The routes of persistent processing (API.md): `POST /pfop/` takes a job in, `GET
/status/get/prefop?id=` tells how it goes. Everything that can be checked at submission is: the
management token (403), the bucket and the video (404), every command's spec and output key
(400, 413, 415), the notifyURL (400, 403). The job then runs on the queue."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import InvalidSpec, JobNotFound, MethodNotAllowed, SourceNotFound
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
MAX_FORM_BYTES = 64 * 1024


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
            if len(body) > MAX_FORM_BYTES:
                raise InvalidSpec(f"The pfop form is larger than {MAX_FORM_BYTES} bytes.")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.scope["headers"]}
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
        await loop.run_in_executor(self.lookups, self.engine.submit, record)
        return JSONResponse({"persistentId": job_id}, headers={"Cache-Control": "no-store"})

    async def status(self, job_id: str) -> Response:
        record = None
        if job_id:
            record = await asyncio.get_running_loop().run_in_executor(self.lookups, self.engine.store.get, job_id)
        if record is None:
            raise JobNotFound()
        return JSONResponse(qiniu_status(record), headers={"Cache-Control": "no-store"})
