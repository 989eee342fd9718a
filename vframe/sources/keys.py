"""What a key may be, for every source: a plain relative path. Anything else is "No such video"
(404), so that the answer never tells what exists outside the source: absolute keys, `..` and `.`
segments, empty segments, NUL bytes, backslashes, and hidden names (a segment starting with a
dot: `.git`, `.env`). The key is already percent-decoded, exactly once."""

from __future__ import annotations

from ..errors import SourceNotFound

NOT_FOUND = "No such video."


def check_key(key: str) -> str:
    if not key or "\x00" in key or "\\" in key or key.startswith("/"):
        raise SourceNotFound(NOT_FOUND)
    if any(part == "" or part.startswith(".") for part in key.split("/")):
        raise SourceNotFound(NOT_FOUND)
    return key
