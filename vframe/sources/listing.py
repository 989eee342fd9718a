"""The videos of a source, a page at a time, for the service's page (/-/ui/). A listing gives only
keys a request could use (keys.py's rules: no hidden names, nothing outside the source), in
order, at most `limit` after the key `after`, and the key to ask after for the next page.

- A folder: its files whose names end like a video's, walked in sorted order, folders
  pruned when the whole of them sorts before `after`; no hidden names (a hidden folder is not
  entered), no symlink whose target leaves the root, no folder entered through a symlink. One
  page looks at (lstats) no more than SCANNED_PER_ITEM entries per key asked for: a huge folder
  answers with what it found and the key to go on after (each folder passed through is still
  read and sorted once a page: a folder of millions costs that on every page).
- S3: ListObjectsV2 under the prefix (StartAfter the prefix and `after`, then its continuation
  tokens, at most MAX_S3_CALLS calls a page), keys that end like a video's and pass keys.py. A
  page that spent its calls goes on from S3's own continuation token ("/" and the token), so a
  `next` never names a key that is not listed (a hidden one).
- A folder's `next` is a listed video's key, or (the look budget spent) the key of the entry the
  walk stopped at: never a hidden name (those are not looked at), but it may be a file that is no
  video, or a symlink whose target leaves the root (its name, never its target).
- An HTTP origin cannot be listed (listable is False): the page asks for a key instead."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceNotFound
from .keys import check_key
from .local import LocalFolder

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mpg", ".flv", ".ogv", ".3gp")
SCANNED_PER_ITEM = 100  # folder entries one page may look at, per key asked for
MAX_S3_CALLS = 5  # ListObjectsV2 calls one page may make
MAX_DEPTH = 16  # folders deeper than this under the root are not listed
TOKEN = "/"  # an S3 page's `next` that is S3's continuation token (no key a request may use starts so)


@dataclass(frozen=True)
class Entry:
    key: str
    size: int


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next: str | None  # the key to ask after for the next page; None: this was the last
    listable: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"listable": self.listable, "videos": [{"key": e.key, "size": e.size} for e in self.entries],
                "next": self.next}


def is_video_name(name: str) -> bool:
    """Named like a video, not hidden, and UTF-8 (a URL can name it)."""
    return name.lower().endswith(VIDEO_SUFFIXES) and not name.startswith(".") and _utf8(name)


def listable_key(key: str) -> bool:
    """Whether `key` is one a request may use (keys.py) and named like a video."""
    try:
        check_key(key)
    except SourceNotFound:
        return False
    return is_video_name(key.rsplit("/", 1)[-1])


def list_videos(library: object, after: str, limit: int) -> Page:
    """Up to `limit` videos of `library` whose keys sort after `after`."""
    from .http import HttpOrigin

    if isinstance(library, LocalFolder):
        return list_folder(library.root, after, limit)
    if isinstance(library, HttpOrigin):
        return Page([], None, listable=False)
    from .s3 import S3Bucket

    if isinstance(library, S3Bucket):
        return list_s3(library, after, limit)
    raise TypeError(f"cannot list {type(library).__name__}")


def _order(key: str) -> list[str]:
    """Keys sort segment by segment, as the walk visits them."""
    return key.split("/")


def list_folder(root: Path, after: str, limit: int) -> Page:
    found: list[Entry] = []
    budget = SCANNED_PER_ITEM * max(1, limit)
    resume = after
    for item in _walk(root, str(root), [], _order(after) if after else []):
        budget -= 1
        if isinstance(item, Entry):
            if len(found) == limit:
                return Page(found, found[-1].key)
            found.append(item)
            resume = item.key
        elif item:
            resume = item
        if budget <= 0:
            return Page(found, resume)
    return Page(found, None)


def _walk(root: Path, folder: str, prefix: list[str], start: list[str]) -> Iterator[Entry | str]:
    """In key order, each entry under `folder` (key segments `prefix`) looked at (an lstat): a
    video that sorts after `start` as an Entry, anything else after `start` as its key (a page
    may stop there), a folder holding `start` as "" (a look, but no page resumes before `start`).
    Hidden names and whatever sorts wholly before `start` are not looked at."""
    try:
        with os.scandir(folder) as scanning:
            names = sorted(entry.name for entry in scanning)
    except OSError:
        return
    for name in names:
        if not _utf8(name):
            continue  # a name no URL can carry as a key (not UTF-8): never listed, not looked at
        segments = [*prefix, name]
        depth = len(segments)
        if name.startswith(".") or (start[:depth] != segments and segments < start[:depth]):
            continue  # hidden, or the whole of it sorts before `start`: not even looked at
        key = "/".join(segments)
        path = f"{folder}/{name}"
        try:
            info = os.lstat(path)
            linked = stat.S_ISLNK(info.st_mode)
            if linked:
                real = os.path.realpath(path, strict=True)
                if os.path.commonpath([real, str(root)]) != str(root) or real == str(root):
                    yield key if segments > start else ""
                    continue
                info = os.stat(real)
        except (OSError, ValueError):
            yield key if segments > start else ""
            continue
        if stat.S_ISDIR(info.st_mode):
            yield key if segments > start else ""
            if depth < MAX_DEPTH and not linked:  # a linked folder is not entered: no loops, no copies
                yield from _walk(root, path, segments, start)
        elif segments > start and stat.S_ISREG(info.st_mode) and listable_key(key):
            yield Entry(key, info.st_size)
        else:
            yield key if segments > start else ""


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir's surrogate escapes of bytes that are not UTF-8
        return False
    return True


def list_s3(bucket: Any, after: str, limit: int) -> Page:
    from .s3 import _failures, s3_client

    client = s3_client(bucket.endpoint, bucket.region, bucket.timeout)
    found: list[Entry] = []
    asked: dict[str, Any] = {"Bucket": bucket.bucket, "Prefix": bucket.prefix, "MaxKeys": max(limit, 1)}
    if after.startswith(TOKEN):  # a page that spent its calls: S3's own (opaque) continuation token
        asked["ContinuationToken"] = after[len(TOKEN):]
    elif after:
        asked["StartAfter"] = bucket.prefix + after
    for _ in range(MAX_S3_CALLS):
        with _failures():
            answer = client.list_objects_v2(**asked)
        for item in answer.get("Contents", []):
            key = str(item["Key"])[len(bucket.prefix):]
            if listable_key(key):
                found.append(Entry(key, int(item.get("Size", 0))))
                if len(found) == limit:
                    more = answer.get("IsTruncated", False) or item is not answer["Contents"][-1]
                    return Page(found, key if more else None)
        if not answer.get("IsTruncated"):
            return Page(found, None)
        asked["ContinuationToken"] = answer["NextContinuationToken"]
    # The call budget is spent: go on from S3's token, never from the last key looked at (which may
    # be a hidden one: a page must not name it).
    return Page(found, TOKEN + str(asked["ContinuationToken"]))
