"""A job's record and Qiniu's status JSON of it (API.md, "Persistent processing").

The record is plain JSON kept in the job store: the request, the state of each command, and the
lease of the consumer running it. `qiniu_status` gives exactly the fields Qiniu's prefop gives."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

DONE, WAITING, RUNNING, FAILED, NOTIFY_FAILED = 0, 1, 2, 3, 4
FINAL = (DONE, FAILED, NOTIFY_FAILED)
DESCRIPTIONS = {
    DONE: "The fop was completed successfully",
    WAITING: "The fop is waiting for execution",
    RUNNING: "The fop is executing now",
    FAILED: "The fop is failed",
    NOTIFY_FAILED: "Callback failed",
}
STATES = {DONE: "done", WAITING: "waiting", RUNNING: "running", FAILED: "failed", NOTIFY_FAILED: "notify_failed"}

Record = dict[str, Any]


def new_record(job_id: str, bucket: str, key: str, commands: list[tuple[str, str]], notify_url: str, force: bool,
               pipeline: str, reqid: str) -> Record:
    """A waiting job; `commands`: (cmd as submitted, output key or pattern) each."""
    now = time.time()
    return {
        "id": job_id, "bucket": bucket, "key": key, "notifyURL": notify_url, "force": force, "pipeline": pipeline,
        "reqid": reqid, "created": now, "updated": now, "code": WAITING, "runs": 0, "lease_until": 0.0,
        "notifying": False,
        "items": [{"cmd": cmd, "code": WAITING, "error": "", "key": output, "keys": [], "returnOld": 0,
                   "attempts": 0} for cmd, output in commands],
    }


def qiniu_status(record: Record) -> dict[str, Any]:
    items = []
    for item in record["items"]:
        shown: dict[str, Any] = {"cmd": item["cmd"], "code": item["code"], "desc": DESCRIPTIONS[item["code"]]}
        if item["error"]:
            shown["error"] = item["error"]
        if item["code"] == DONE:
            if item["keys"]:
                shown["keys"] = item["keys"]
            else:
                shown["key"] = item["key"]
            shown["returnOld"] = item["returnOld"]
        items.append(shown)
    return {
        "id": record["id"], "pipeline": record["pipeline"], "code": record["code"],
        "desc": DESCRIPTIONS[record["code"]], "reqid": record["reqid"], "inputBucket": record["bucket"],
        "inputKey": record["key"], "creationDate": _date(record["created"]), "items": items,
    }


def _date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
