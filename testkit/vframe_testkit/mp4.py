"""MP4 (ISO base media, ISO/IEC 14496-12) boxes, walked from their headers alone: each box is its
32-bit size (1: a 64-bit size follows the type; 0: it runs to the end of its parent or the file), its
four-character type, and its content, which for a container is more boxes.

    mp4.boxes(data)                      # every box of the tree that parses, parents before children
    mp4.find(data, b"moov", b"trak")     # the first trak of the first moov
    mp4.top_level(path)                  # the top-level boxes of a (large) file, which must be whole

The walk never trusts a header past the bytes it has: it stops quietly at a size smaller than its
header, a box that runs past its parent (or the file), or a type that is not ASCII, so that it serves
damaged files (the fuzz's mutations) as well as good ones."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

Data = bytes | bytearray | mmap.mmap  # what struct.unpack_from and len() take


@dataclass(frozen=True)
class Box:
    start: int  # offset of its size field
    size: int  # as its header says (resolved for size 0 and 64-bit sizes)
    type: bytes
    header: int  # 8, or 16 with a 64-bit size
    payload: int  # where its content (after any fields kept by a sample entry) starts

    @property
    def end(self) -> int:
        return self.start + self.size


CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf", b"udta",
              b"mfra", b"meta"}
# bytes of fields between a box's header and its children: tables' counts, sample entries' fields
FIELDS_BEFORE_CHILDREN = {b"stsd": 8, b"dref": 8, b"meta": 4, b"mp4a": 28, **dict.fromkeys(
    (b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"vp09", b"av01"), 78)}
MAX_DEPTH = 12  # levels below the top that `boxes` descends to (moov/trak/mdia/minf/stbl/stsd/avc1/avcC is 8)


def level(data: Data, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes one after another from `start` to `end` (not their children); stops quietly at garbage."""
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end or not kind.isascii():
            return
        yield Box(position, size, kind, header, position + header + FIELDS_BEFORE_CHILDREN.get(kind, 0))
        position += size


def boxes(data: Data, start: int = 0, end: int | None = None, depth: int = 0) -> list[Box]:
    """Every box of the tree that parses, parents before children; stops quietly at garbage."""
    if depth >= MAX_DEPTH:
        return []
    found: list[Box] = []
    for box in level(data, start, end):
        found.append(box)
        if box.type in CONTAINERS or box.type in FIELDS_BEFORE_CHILDREN:
            found += boxes(data, box.payload, box.end, depth + 1)
    return found


def find(data: Data, *path: bytes) -> Box:
    """The box at `path` (e.g. b"moov", b"trak", b"mdia": the first of each type, each inside the one
    before it); LookupError when there is none."""
    found: Box | None = None
    start, end = 0, len(data)
    for depth, kind in enumerate(path):
        found = next((box for box in level(data, start, end) if box.type == kind), None)
        if found is None:
            raise LookupError(f"no {b'/'.join(path[: depth + 1]).decode('latin-1')} box")
        start, end = found.payload, found.end
    if found is None:
        raise ValueError("find() needs at least one box type")
    return found


def top_level(path: Path) -> list[Box]:
    """The top-level boxes of the file at `path`, mapped rather than read (it may be hundreds of MB);
    ValueError when they do not run exactly to the end of the file."""
    with open(path, "rb") as file:
        size = path.stat().st_size
        if not size:
            return []  # (mmap refuses an empty file)
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = list(level(data))
    reached = found[-1].end if found else 0
    if reached != size:
        raise ValueError(f"{path}: no whole box at {reached} of its {size} bytes")
    return found
