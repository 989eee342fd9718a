"""The operator's codec policy: which FFmpeg decoders may run, from `VFRAME_DECODERS`.

The default is the decoders of real-world video files. FFmpeg has some 200 more (old game and
screen-capture codecs and the like), rarely used, little exercised and the usual home of decoder
bugs; a video in one of them is refused (415) before it is decoded. An archive of old files may
want some of them back (Indeo 3, Microsoft Video 1...), a careful service fewer:

    VFRAME_DECODERS=""                     the default list
    VFRAME_DECODERS="+indeo3,+msvideo1"    the default and these
    VFRAME_DECODERS="-h263,-h263p"         the default without these
    VFRAME_DECODERS="h264,hevc,libdav1d"   exactly these

Each name is checked against the decoders of this build of FFmpeg when the settings are read,
so a typo stops the start rather than refusing videos later."""

from __future__ import annotations

import re
from functools import lru_cache

import av

DEFAULT = frozenset(
    {
        "h264", "hevc", "vvc", "vp8", "vp9", "libvpx", "libvpx-vp9", "libdav1d", "av1",
        "mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v1", "msmpeg4v2", "h261", "h263", "h263i",
        "h263p", "flv", "vp6", "vp6a", "vp6f", "theora", "vc1", "wmv1", "wmv2", "wmv3", "rv10", "rv20",
        "rv30", "rv40", "svq1", "svq3", "mjpeg", "dvvideo", "prores", "dnxhd", "cfhd", "hap", "ffv1",
        "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "qtrle", "rpza", "cinepak", "cavs",
    }
)
VARIABLE = "VFRAME_DECODERS"
_NAME = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")  # FFmpeg's decoder names: h264, libvpx-vp9, mpeg1video


@lru_cache(maxsize=16)
def allowed(policy: str) -> frozenset[str]:
    """The decoders `policy` (the text of VFRAME_DECODERS) allows; ValueError, in one sentence
    naming the bad entry, when it is malformed or names no video decoder of this build."""
    if not policy.strip():
        return DEFAULT
    entries = [entry.strip() for entry in policy.split(",")]
    if "" in entries:
        raise ValueError(f"{VARIABLE} has an empty entry in {policy!r}: give names separated by single commas.")
    changes = [entry for entry in entries if entry[0] in "+-"]
    if changes and len(changes) != len(entries):
        plain = next(entry for entry in entries if entry[0] not in "+-")
        raise ValueError(f"{VARIABLE} mixes the plain name {plain!r} with +/- changes: give either the whole "
                         "list (h264,hevc) or changes to the default (+indeo3,-h263).")
    if not changes:
        chosen = frozenset(_checked(entry, entry) for entry in entries)
    else:
        added = {_checked(entry[1:], entry) for entry in entries if entry[0] == "+"}
        removed = {_checked(entry[1:], entry) for entry in entries if entry[0] == "-"}
        for name in sorted(removed - DEFAULT):
            raise ValueError(f"{VARIABLE} removes {name!r}, which the default list does not have.")
        chosen = (DEFAULT | added) - removed
    if not chosen:
        raise ValueError(f"{VARIABLE} allows no decoder at all, so no video could be read.")
    return frozenset(chosen)


def _checked(name: str, entry: str) -> str:
    """`name` if it is a video decoder of this build of FFmpeg (`entry`: the text it came from)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{VARIABLE} entry {entry!r} is not a decoder name (like h264, +indeo3 or -h263).")
    try:
        codec = av.Codec(name, "r")
    except Exception:  # PyAV raises UnknownCodecError (a ValueError) or, for some names, others
        raise ValueError(f"{VARIABLE} entry {entry!r} names no decoder of this build of FFmpeg.") from None
    if codec.type != "video":
        raise ValueError(f"{VARIABLE} entry {entry!r} names a decoder of {codec.type}, not of video.")
    if codec.name != name:  # a codec's name (msmpeg4v3) whose decoder is called otherwise (msmpeg4)
        raise ValueError(f"{VARIABLE} entry {entry!r} names a codec whose decoder is called {codec.name!r}: "
                         "use that name.")
    return name
