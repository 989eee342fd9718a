"""Seeded mutations of video files, shared by the bounded fuzz in the suite (tests/test_fuzz.py) and
the long one (tools/fuzz.py, `make fuzz`).

A mutant is a seed video with one mutation applied (or, for "havoc", a few stacked): blind ones
(flipped bits, overwritten, inserted and deleted runs, truncation, a duplicated chunk, two videos
spliced) and ones that know the container, because a blind flip rarely lands in the few hundred
bytes of an MP4's index that steer the demuxer: box sizes and types anywhere in the box tree,
sample-table entries (stsz, stco, co64, stts, ctts, stss, stsc, elst, trun) set to 0, huge or
"negative" values, header fields (time scales, durations, sizes), MPEG-TS packet headers, RIFF
(AVI) chunk sizes and EBML (WebM) element sizes.

Everything is reproducible from the mutant's name, `<seed video>~<mutation>~<seed>`: its random
generator is seeded with that name, so `mutant(seed_videos, name)` gives the same bytes again
(given the same seed videos: a splice picks its partner among them). The last part asks a live
server (live.py) for a frame of each mutant and judges the answer by API.md's contract for
damaged input."""

from __future__ import annotations

import io
import json
import random
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image

from vframe_testkit import mp4, synth
from vframe_testkit.live import LiveServer

# -- the seed videos ---------------------------------------------------------------------------

SEED_WIDTH, SEED_HEIGHT, SEED_FPS, SEED_FRAMES, SEED_GOP = 160, 120, 24, 36, 12  # 1.5 s, 3 GOPs
PRISTINE = "h264_bframes_faststart.mp4"  # the seed the suite checks frame by frame after the fuzz


def make_seed_videos(folder: Path) -> dict[str, synth.SynthVideo]:
    """Small videos of the kinds vframe meets most (a few kB each, so that a mutation is likely to
    hit structure rather than picture data): H.264 with B-frames in an MP4 with its index at the
    end, the same with the index first (faststart) and fragmented, VP9 in WebM, H.264 in MPEG-TS
    starting at 1.4 s, MPEG-4 Part 2 and H.264 with B-frames in AVI, and H.264 with AAC audio in an MP4."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "h264_bframes_moov_end.mp4": seed_video(folder / "h264_bframes_moov_end.mp4", "libx264", bframes=3),
        "vp9.webm": seed_video(folder / "vp9.webm", "libvpx-vp9", bframes=0),
        "h264_start_1.4.ts": seed_video(folder / "h264_start_1.4.ts", "libx264", bframes=2, start=Fraction(14, 10)),
        "mpeg4.avi": seed_video(folder / "mpeg4.avi", "mpeg4", bframes=0),
    }
    moov_end = made["h264_bframes_moov_end.mp4"]
    made[PRISTINE] = synth.SynthVideo(synth.remux_faststart(moov_end.path, folder / PRISTINE), moov_end.times,
                                      SEED_WIDTH, SEED_HEIGHT)
    fragmented = synth.remux(moov_end.path, folder / "h264_fragmented.mp4",
                              {"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    made["h264_fragmented.mp4"] = synth.SynthVideo(fragmented, moov_end.times, SEED_WIDTH, SEED_HEIGHT)
    with_audio = _make_h264_aac(folder / "h264_aac.mp4")
    made["h264_aac.mp4"] = synth.SynthVideo(with_audio, moov_end.times, SEED_WIDTH, SEED_HEIGHT)
    made["h264_bframes.avi"] = make_h264_avi(folder / "h264_bframes.avi")
    return made


def seed_video(path: Path, codec: str, bframes: int, start: Fraction = Fraction(0)) -> synth.SynthVideo:
    return synth.make_video(path, codec=codec, frames=SEED_FRAMES, fps=SEED_FPS, width=SEED_WIDTH,
                            height=SEED_HEIGHT, gop=SEED_GOP, bframes=bframes, start=start)


def make_h264_avi(path: Path) -> synth.SynthVideo:
    """H.264 with B-frames in AVI, which stores no presentation times (synth.make_video's checks
    refuse it): vframe times its frames by decode order. Frame k shows k at k/24 s."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=SEED_FPS, options={
            "preset": "veryfast", "g": str(SEED_GOP), "keyint_min": str(SEED_GOP), "sc_threshold": "0", "bf": "2",
            "x264-params": "b-adapt=0"})
        stream.width, stream.height, stream.pix_fmt = SEED_WIDTH, SEED_HEIGHT, "yuv420p"
        for index in range(SEED_FRAMES):
            container.mux(stream.encode(_picture(index)))
        container.mux(stream.encode(None))
    times = tuple(Fraction(index, SEED_FPS) for index in range(SEED_FRAMES))
    return synth.SynthVideo(path, times, SEED_WIDTH, SEED_HEIGHT)


def _picture(index: int) -> av.VideoFrame:
    rgb = av.VideoFrame.from_ndarray(synth.index_pattern(index, SEED_WIDTH, SEED_HEIGHT), format="rgb24")
    picture = rgb.reformat(format="yuv420p")
    picture.pts = index
    return picture


def _make_h264_aac(path: Path) -> Path:
    """H.264 (B-frames) and AAC interleaved: the demuxer must skip audio packets to reach video."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=SEED_FPS, options={
            "preset": "veryfast", "g": str(SEED_GOP), "keyint_min": str(SEED_GOP), "sc_threshold": "0", "bf": "2"})
        video.width, video.height, video.pix_fmt = SEED_WIDTH, SEED_HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=48000, layout="mono")
        samples_per_frame = 48000 // SEED_FPS
        for index in range(SEED_FRAMES):
            container.mux(video.encode(_picture(index)))
            t = (np.arange(samples_per_frame) + index * samples_per_frame) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            sound = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, index * samples_per_frame
            container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path


def corpus_seed_videos(folder: Path, max_bytes: int, per_category: int = 1) -> dict[str, Path]:
    """Small files of the shared corpus with a video stream (MANIFEST.json's entries), at most
    `per_category` of each folder, the smallest first; {} when the corpus is absent."""
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        return {}
    entries = sorted(json.loads(manifest.read_text()), key=lambda entry: (entry["cat"], entry["size"], entry["path"]))
    chosen: dict[str, Path] = {}
    taken: dict[str, int] = {}
    for entry in entries:
        if entry.get("n_video", 0) < 1 or entry["size"] > max_bytes or taken.get(entry["cat"], 0) >= per_category:
            continue
        if (folder / entry["path"]).is_file():
            chosen[entry["path"]] = folder / entry["path"]
            taken[entry["cat"]] = taken.get(entry["cat"], 0) + 1
    return chosen


# -- mutants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    name: str  # "<seed video>~<mutation>~<seed>": mutant(seed_videos, name) makes the same bytes
    data: bytes

    @property
    def file_name(self) -> str:
        """A plain file name for it (a key the server accepts), keeping the seed's extension."""
        video, mutation, seed = self.name.rsplit("~", 2)
        stem, dot, extension = video.replace("/", "__").rpartition(".")
        return f"{stem}.{mutation}.{seed}.{extension}" if dot else f"{extension}.{mutation}.{seed}"


Mutation = Callable[[random.Random, bytes, list[bytes]], bytes]  # (rng, data, every seed's data) -> new data

NASTY_32 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def _run_length(rng: random.Random, limit: int) -> int:
    """Mostly short runs, sometimes long ones (up to 64 kB), at least 1 and at most `limit` (if above 1)."""
    return max(1, min(limit, rng.choice((1, 2, 4, 8, 16, 64, 256, 1024, 4096, 65536))))


def flip_bits(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    out = bytearray(data)
    for _flip in range(rng.choice((1, 1, 2, 4, 8, 32, 128))):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _overwrite_with(fill: Callable[[random.Random, int], bytes]) -> Mutation:
    def overwrite(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
        length = _run_length(rng, len(data))
        start = rng.randrange(len(data) - length + 1)
        return data[:start] + fill(rng, length) + data[start + length:]

    return overwrite


def _insert_with(fill: Callable[[random.Random, int], bytes]) -> Mutation:
    def insert(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
        at = rng.randrange(len(data) + 1)
        return data[:at] + fill(rng, _run_length(rng, 65536)) + data[at:]

    return insert


def _random_bytes(rng: random.Random, length: int) -> bytes:
    return rng.randbytes(length)


def _zeros(rng: random.Random, length: int) -> bytes:
    return bytes(length)


def _ones(rng: random.Random, length: int) -> bytes:
    return b"\xff" * length


def delete_run(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    length = _run_length(rng, len(data) - 1)
    start = rng.randrange(len(data) - length + 1)
    return data[:start] + data[start + length:]


def truncate(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Anywhere, or (as an interrupted upload does) near the end."""
    if rng.random() < 0.5:
        return data[: rng.randrange(len(data))]
    return data[: len(data) - 1 - rng.randrange(max(1, len(data) // 10))]


def duplicate_chunk(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    length = _run_length(rng, len(data))
    start = rng.randrange(len(data) - length + 1)
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[start:start + length] + data[at:]


def splice(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """The head of this video and the tail of another (or of itself, elsewhere)."""
    other = rng.choice(seeds)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other)):]


# -- MP4 (ISO base media) ----------------------------------------------------------------------


def is_mp4(data: bytes) -> bool:
    return data[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"pnot")


def _put(data: bytes, offset: int, width: int, value: int) -> bytes:
    """`value` (wrapped to `width` bytes) written big-endian at `offset`, if it fits in the file."""
    if offset < 0 or offset + width > len(data):
        return data
    return data[:offset] + (value % (1 << 8 * width)).to_bytes(width, "big") + data[offset + width:]


def _nasty(rng: random.Random, old: int, width: int) -> int:
    """A value that breaks arithmetic: 0, 1, the largest, 'negative', off by one, doubled, random."""
    top = 1 << 8 * width
    return rng.choice([*(v for v in NASTY_32 if v < top), top - 1, top >> 1, (top >> 1) - 1,
                       old + 1, old - 1, old * 2, old // 2, old + rng.randrange(1, 1 << 16), rng.randrange(top)])


def _index_boxes(data: bytes) -> list[mp4.Box]:
    """Boxes outside the media data: the ones whose every byte is structure."""
    return [box for box in mp4.boxes(data) if box.type not in (b"mdat", b"free", b"skip")]


def mp4_box_size(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    boxes = mp4.boxes(data)
    if not boxes:
        return flip_bits(rng, data, [])
    box = rng.choice(boxes)
    if box.header == 16:
        return _put(data, box.start + 8, 8, _nasty(rng, box.size, 8))
    return _put(data, box.start, 4, rng.choice([0, 1, 7, 8, box.size - 1, box.size + 1, box.size * 2,
                                                _nasty(rng, box.size, 4)]))


BOX_TYPES = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"stsz", b"stco", b"co64", b"stts", b"ctts",
             b"stss", b"stsc", b"elst", b"mdat", b"free", b"uuid", b"avcC", b"moof", b"trun", b"\0\0\0\0"]


def mp4_box_type(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    boxes = mp4.boxes(data)
    if not boxes:
        return flip_bits(rng, data, [])
    box = rng.choice(boxes)
    kind = rng.choice([*BOX_TYPES, rng.randbytes(4)])
    return data[:box.start + 4] + kind + data[box.start + 8:]


def mp4_box_payload(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Random bytes inside one index box (avcC's parameter sets, stsd's entry, a table...)."""
    boxes = [box for box in _index_boxes(data) if box.end > box.payload]
    if not boxes:
        return flip_bits(rng, data, [])
    box = rng.choice(boxes)
    length = min(_run_length(rng, 16), box.end - box.payload)
    start = rng.randrange(box.payload, box.end - length + 1)
    return data[:start] + rng.randbytes(length) + data[start + length:]


# (offset of the entry count after the version and flags, the table's first entry, its width in bytes,
#  the width of one field): where a sample table's numbers are
TABLES = {b"stsz": (8, 12, 4, 4), b"stz2": (8, 12, 4, 4), b"stco": (4, 8, 4, 4), b"co64": (4, 8, 8, 8),
          b"stts": (4, 8, 8, 4), b"ctts": (4, 8, 8, 4), b"stss": (4, 8, 4, 4), b"stps": (4, 8, 4, 4),
          b"stsc": (4, 8, 12, 4), b"elst": (4, 8, 12, 4), b"trun": (4, 8, 4, 4), b"sbgp": (8, 12, 8, 4),
          b"sdtp": (4, 4, 1, 1)}


def mp4_table(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """One number of a sample table (a count, an entry, stsz's common size) set to a nasty value."""
    tables = [box for box in mp4.boxes(data) if box.type in TABLES]
    if not tables:
        return mp4_box_size(rng, data, [])
    box = rng.choice(tables)
    count_at, first_at, entry_width, field_width = TABLES[box.type]
    payload = box.start + box.header
    if box.type == b"elst" and data[payload:payload + 1] == b"\x01":
        entry_width, field_width = 20, 8  # version 1: 64-bit duration and media time
    entries = max(0, (box.end - payload - first_at) // entry_width)
    choice = rng.random()
    if choice < 0.3 or not entries:
        offset, width = payload + count_at, 4
    elif box.type == b"stsz" and choice < 0.4:
        offset, width = payload + 4, 4  # the common sample size: 0 means "see the table"
    else:
        entry = payload + first_at + rng.randrange(entries) * entry_width
        offset, width = entry + rng.randrange(entry_width // field_width) * field_width, field_width
    old = int.from_bytes(data[offset:offset + width], "big")
    return _put(data, offset, width, _nasty(rng, old, width))


def mp4_header(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A time scale, a duration, a track's or a sample entry's width or height, a track id."""
    choices: list[tuple[int, int]] = []
    for box in mp4.boxes(data):
        payload = box.start + box.header
        long = data[payload:payload + 1] == b"\x01"  # version 1: 64-bit times
        if box.type in (b"mvhd", b"mdhd"):
            choices += [(payload + 20, 4), (payload + 24, 8)] if long else [(payload + 12, 4), (payload + 16, 4)]
        elif box.type == b"tkhd":
            choices += [(payload + 20, 4), (payload + 88, 4), (payload + 92, 4)] if long else [
                (payload + 12, 4), (payload + 76, 4), (payload + 80, 4)]
        elif box.type in (b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"vp09", b"av01"):
            choices += [(payload + 24, 2), (payload + 26, 2)]
        elif box.type in (b"tfhd", b"tfdt", b"mehd"):
            choices += [(payload + 4, 4), (payload + 8, 4)]
    if not choices:
        return mp4_box_size(rng, data, [])
    offset, width = rng.choice(choices)
    return _put(data, offset, width, _nasty(rng, int.from_bytes(data[offset:offset + width], "big"), width))


# -- MPEG-TS, RIFF (AVI), EBML (WebM, Matroska) ------------------------------------------------


def is_ts(data: bytes) -> bool:
    return len(data) >= 188 * 3 and data[0] == data[188] == data[376] == 0x47


def ts_packet(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A packet header: sync byte, error and start flags, PID, scrambling, adaptation, continuity."""
    packet = rng.randrange(len(data) // 188) * 188
    header = bytearray(data[packet:packet + 4])
    part = rng.choice(("sync", "flags", "pid", "control", "counter", "adaptation_length"))
    if part == "sync":
        header[0] = rng.choice((0x00, 0x46, 0xFF))
    elif part == "flags":
        header[1] ^= rng.choice((0x80, 0x40, 0x20))
    elif part == "pid":
        pid = rng.choice((0, 1, 0x11, 0x100, 0x1000, 0x1FFF, rng.randrange(0x2000)))
        header[1], header[2] = (header[1] & 0xE0) | pid >> 8, pid & 0xFF
    elif part == "control":
        header[3] = (header[3] & 0x0F) | rng.choice((0x00, 0x10, 0x20, 0x30, 0xC0))
    elif part == "counter":
        header[3] = (header[3] & 0xF0) | rng.randrange(16)
    else:
        return data[:packet + 4] + bytes([rng.choice((0, 183, 184, 255))]) + data[packet + 5:]
    return data[:packet] + bytes(header) + data[packet + 4:]


def riff_chunks(data: bytes, start: int = 12, end: int | None = None, depth: int = 0) -> list[tuple[int, int]]:
    """(offset, size) of every chunk under the RIFF header, LIST chunks descended into."""
    end = len(data) if end is None else end
    found: list[tuple[int, int]] = []
    position = start
    while position + 8 <= end and depth < 8:
        kind, size = struct.unpack_from("<4sI", data, position)
        found.append((position, size))
        if kind in (b"LIST", b"RIFF") and position + 12 <= end:
            found += riff_chunks(data, position + 12, min(end, position + 8 + size), depth + 1)
        position += 8 + size + (size & 1)
    return found


def is_riff(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] in (b"AVI ", b"AVIX")


def riff_chunk(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A chunk's size set to a nasty value, or its four-character code changed."""
    chunks = riff_chunks(data)
    if not chunks:
        return flip_bits(rng, data, [])
    position, size = rng.choice(chunks)
    if rng.random() < 0.25:
        kind = rng.choice([b"LIST", b"JUNK", b"idx1", b"movi", b"00dc", b"strf", b"\0\0\0\0", rng.randbytes(4)])
        return data[:position] + kind + data[position + 4:]
    value = _nasty(rng, size, 4) % (1 << 32)
    return data[:position + 4] + value.to_bytes(4, "little") + data[position + 8:]


EBML_IDS = [bytes.fromhex(code) for code in (
    "1a45dfa3", "18538067", "114d9b74", "1549a966", "1654ae6b", "1f43b675", "1c53bb6b", "1254c367",  # top levels
)]


def is_ebml(data: bytes) -> bool:
    return data[:4] == EBML_IDS[0]


def ebml_size(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """The size after a level-1 element ID: unknown (all ones), zero, or far too large."""
    places = [at for code in EBML_IDS for at in _find_all(data, code)]
    if not places:
        return flip_bits(rng, data, [])
    at = rng.choice(places) + 4
    if at >= len(data):
        return data
    width = 1 + (8 - data[at].bit_length() if data[at] else 7)  # a vint's length is its leading zeros + 1
    marker = 1 << (8 * width - width)
    new = rng.choice([marker | ((1 << (7 * width)) - 1), marker, marker | ((1 << (7 * width)) - 2),
                      marker | rng.randrange(1 << (7 * width))])
    return data[:at] + new.to_bytes(width, "big") + data[at + width:]


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found: list[int] = []
    at = data.find(needle)
    while at != -1 and len(found) < 1000:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


# -- choosing and naming ----------------------------------------------------------------------

BLIND: dict[str, Mutation] = {
    "flip_bits": flip_bits,
    "overwrite_random": _overwrite_with(_random_bytes),
    "overwrite_zero": _overwrite_with(_zeros),
    "overwrite_ff": _overwrite_with(_ones),
    "insert_random": _insert_with(_random_bytes),
    "insert_zero": _insert_with(_zeros),
    "delete_run": delete_run,
    "truncate": truncate,
    "duplicate_chunk": duplicate_chunk,
    "splice": splice,
}
AWARE: dict[str, tuple[Callable[[bytes], bool], Mutation]] = {
    "mp4_box_size": (is_mp4, mp4_box_size),
    "mp4_box_type": (is_mp4, mp4_box_type),
    "mp4_box_payload": (is_mp4, mp4_box_payload),
    "mp4_table": (is_mp4, mp4_table),
    "mp4_header": (is_mp4, mp4_header),
    "ts_packet": (is_ts, ts_packet),
    "riff_chunk": (is_riff, riff_chunk),
    "ebml_size": (is_ebml, ebml_size),
}


def mutations_for(data: bytes) -> list[str]:
    """The mutations that apply to a video: the blind ones, its container's own (twice, since they
    are the likelier to reach the demuxer's bugs), and havoc."""
    aware = [name for name, (applies, _) in AWARE.items() if applies(data)]
    return [*BLIND, *aware, *aware, "havoc"]


def apply(mutation: str, rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    if not data:
        return data
    if mutation == "havoc":  # two to five mutations stacked, none of them havoc
        for _ in range(rng.randint(2, 5)):
            data = apply(rng.choice(mutations_for(data)[:-1]), rng, data, seeds)
        return data
    if mutation in BLIND:
        return BLIND[mutation](rng, data, seeds)
    applies, mutate = AWARE[mutation]
    return mutate(rng, data, seeds) if applies(data) else flip_bits(rng, data, seeds)


def mutant(seed_videos: dict[str, bytes], name: str) -> Mutant:
    """The mutant called `name` ("<seed video>~<mutation>~<seed>"), made again from its seed video."""
    video, mutation, _ = name.rsplit("~", 2)
    rng = random.Random(name)
    seeds = [seed_videos[key] for key in sorted(seed_videos)]
    return Mutant(name, apply(mutation, rng, seed_videos[video], seeds))


def mutants(seed_videos: dict[str, bytes], count: int | None, seed: int) -> Iterator[Mutant]:
    """`count` mutants (None: endless), each of a seed video and a mutation chosen by `seed`'s generator."""
    chooser = random.Random(seed)
    names = sorted(seed_videos)
    made = 0
    while count is None or made < count:
        video = chooser.choice(names)
        mutation = chooser.choice(mutations_for(seed_videos[video]))
        yield mutant(seed_videos, f"{video}~{mutation}~{chooser.getrandbits(32)}")
        made += 1


# -- asking the service ------------------------------------------------------------------------
# What the suite and the long fuzz check of each answer: API.md's contract for damaged input.

ALLOWED = {200, 413, 415, 599}  # the specs are valid (no 400) and every file exists (no 404)
IMAGE_FORMATS = {"jpg": ("JPEG", "image/jpeg"), "jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"),
                 "webp": ("WEBP", "image/webp")}
UNFORESEEN = "The decoder failed on this video."  # workers.py's 599 for an exception nobody foresaw
RESTARTS = "vframe_worker_restarts_total"
RESTART_REASONS = ("crash", "deadline", "memory", "recycle")


@dataclass(frozen=True)
class Request:
    file_name: str
    spec: str
    format: str  # the word in the spec (jpeg stays jpeg)
    size: tuple[int, int] | None  # both w and h given: the output's exact size


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int | None  # None: no answer, said in `failure`
    headers: dict[str, str]
    body: bytes
    seconds: float
    failure: str = ""  # "hang" (the client's timeout passed) or "no answer: <error>"


def request_for(mutant: Mutant) -> Request:
    """A valid spec, varied by the mutant's name: format, offset (inside, at and past the end of
    the 1.5 s seeds), size, mode and rotation."""
    rng = random.Random(mutant.name)
    word = rng.choice(sorted(IMAGE_FORMATS))
    offset = rng.choice(["0", "0.3", "0.75", "1", "1.2", "1.49", "2", "5", "1000", f"{rng.uniform(0, 2):.3f}"])
    parts = [f"vframe/{word}/offset/{offset}"]
    size = rng.choice([None, None, (64, 48), (160, 120), (33, 17), (120, 160)])
    if size is not None:
        parts.append(f"w/{size[0]}/h/{size[1]}")
    elif one_side := rng.choice([None, "w/80", "h/60"]):
        parts.append(one_side)
    if rng.random() < 0.2:
        parts.append("mode/fast")
    if rng.random() < 0.2:
        parts.append(f"rotate/{rng.choice(['0', '90', '180', '270'])}")
    return Request(mutant.file_name, "/".join(parts), word, size)


def ask(client: httpx.Client, request: Request) -> Answer:
    """GET the frame; a client timeout (set past the server's deadline) is a hang, not an error."""
    started = time.monotonic()
    try:
        response = client.get(f"/{request.file_name}?{request.spec}")
    except httpx.TimeoutException:
        return Answer(request, None, {}, b"", time.monotonic() - started, "hang")
    except httpx.TransportError as error:
        return Answer(request, None, {}, b"", time.monotonic() - started, f"no answer: {error!r}")
    return Answer(request, response.status_code, dict(response.headers), response.content,
                  time.monotonic() - started)


def image_problem(answer: Answer) -> str:
    """Why a 200 is not the image asked for ('' when it is)."""
    expected_format, media_type = IMAGE_FORMATS[answer.request.format]
    if answer.headers.get("content-type") != media_type:
        return f"Content-Type {answer.headers.get('content-type')!r}, not {media_type}"
    if not re.fullmatch(r"[0-9]+\.[0-9]{3}", answer.headers.get("x-vframe-time", "")):
        return f"X-Vframe-Time {answer.headers.get('x-vframe-time')!r}"
    try:
        with Image.open(io.BytesIO(answer.body)) as picture:
            picture.load()
            found, size = picture.format, picture.size
    except Exception as error:  # any failure to decode is the finding
        return f"the body is not a decodable image: {error!r}"
    if found != expected_format:
        return f"a {found} image, not {expected_format}"
    if answer.request.size is not None and size != answer.request.size:
        return f"a {size} image, not {answer.request.size}"
    return ""


def error_message(answer: Answer) -> str:
    try:
        return str(json.loads(answer.body)["error"])
    except (ValueError, KeyError, TypeError):
        return repr(answer.body[:80])


def error_problem(answer: Answer, root: Path) -> str:
    """Why an error answer breaks API.md's form ('' when it does not): JSON, not cached, one
    line, no traceback, no path."""
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return f"Content-Type {answer.headers.get('content-type')!r}"
    if answer.headers.get("cache-control") != "no-store":
        return f"Cache-Control {answer.headers.get('cache-control')!r}"
    try:
        message = json.loads(answer.body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"not a JSON error: {answer.body[:200]!r}"
    if not isinstance(message, str) or not message:
        return f"no message: {answer.body[:200]!r}"
    leaks = [word for word in ("Traceback", "\n", str(root), "/work/", "/tmp/", ".py", answer.request.file_name)
             if word in message]
    return f"message {message!r} shows {leaks}" if leaks else ""


def verdict(answer: Answer, root: Path) -> tuple[str, str]:
    """("ok", "") or what is wrong and how: ("hang" | "no-answer" | "status-<n>" | "bad-image" |
    "bad-error", detail)."""
    if answer.status is None:
        return ("hang" if answer.failure == "hang" else "no-answer"), answer.failure
    if answer.status not in ALLOWED:
        return f"status-{answer.status}", f"status {answer.status}: {answer.body[:300]!r}"
    if answer.status == 200:
        why = image_problem(answer)
        return ("bad-image", why) if why else ("ok", "")
    why = error_problem(answer, root)
    return ("bad-error", why) if why else ("ok", "")


def restarts(server: LiveServer) -> dict[str, float]:
    """vframe_worker_restarts_total by reason."""
    return {reason: server.metric(RESTARTS, f'reason="{reason}"') for reason in RESTART_REASONS}


def frame_index(image: bytes) -> int:
    with Image.open(io.BytesIO(image)) as picture:
        return synth.read_index(np.asarray(picture.convert("RGB")))


def pristine_problem(server: LiveServer, key: str, video: synth.SynthVideo, seconds: Fraction) -> str:
    """Why the undamaged `video` (served as `key`) does not give exactly the frame a player shows
    at `seconds` ('' when it does)."""
    shown = max(index for index, t in enumerate(video.times) if t <= seconds)
    response = httpx.get(f"{server.url}/{key}?vframe/png/offset/{float(seconds)}", timeout=60)
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:300]}"
    if response.headers.get("x-vframe-time") != f"{float(video.times[shown]):.3f}":
        return f"X-Vframe-Time {response.headers.get('x-vframe-time')}, not {float(video.times[shown]):.3f}"
    index = frame_index(response.content)
    return f"frame {index}, not {shown}" if index != shown else ""
