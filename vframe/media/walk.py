"""One forward walk over sorted targets: the frame a player shows at each offset (API.md, "Which
frame": the last frame whose presentation time is <= the offset), each frame decoded once.

The targets are first grouped by the keyframe a seek to each lands on (`_groups`, torchcodec's
"can we avoid seeking": a target in the same GOP as the one before it is reached by decoding on,
one in a later GOP by a seek, so a GOP that holds no target is never decoded). Each group is one
pass: seek (stepping back when the seek lands after the target), decode forward, and resolve
every target of the group as its frame goes by. A single frame is a walk of one target, and
decodes exactly what it always did."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO, TypeVar

import av
import av.container
import av.error
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from ..errors import OutOfMemory, ProcessingFailed
from ..limits import Budget, check_frame_pixels
from ..settings import Settings
from . import threads
from .container import ALPHA_DECODERS, make_decoder, open_container, sample_aspect
from .timeline import Timeline

T = TypeVar("T")
Offset = TypeVar("Offset", int, Fraction)  # ms; a Fraction where a moment falls between two, such as k/30 s

# libvpx does not flag the frames it decodes from keyframes; it has no delay (one packet, one
# frame), so the packet's flag is the frame's.
UNFLAGGED_KEYFRAMES = set(ALPHA_DECODERS.values())
# Decoders that read skip_frame for each frame they decode (libdav1d reads it once, at start).
SKIPPERS = {"h264", "hevc", "mpeg2video", "mpeg1video"}
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)  # "from before the first frame"
_MAX_STEPS_BACK = 5  # times to step back after a seek overshoots, before decoding from the start
# Formats whose timestamps after a seek are guessed by a parser resyncing mid-stream (MPEG-PS
# and raw elementary streams): exact only when read from the start.
SEQUENTIAL_FORMATS = {"mpeg", "mpegvideo", "m4v", "h264", "hevc", "vvc", "h261", "h263", "cavsvideo", "vc1"}
# Formats whose index tells where keyframes are and flags them reliably: a seek lands on a
# keyframe, so one seek and one packet tell which GOP a target is in (see _groups).
INDEXED_FORMATS = ("mov,", "matroska")
# Elsewhere, a target this close after the one before it is reached by decoding on (see _groups).
MAX_DECODED_GAP_SECONDS = 10


_Keep = Callable[[VideoFrame, int, VideoFrame | None, VideoFrame | None], Any]  # frame, stamp, previous, next


@dataclass(frozen=True)
class Found:
    frame: VideoFrame
    time: Fraction  # seconds from the start of the stream
    previous: VideoFrame | None  # the frames beside it, for deinterlacing
    next: VideoFrame | None


@dataclass
class _Shown:
    """The frame a pass resolved a target to; once kept (see _Pass.keep), only what keep made of it."""

    frame: VideoFrame | None
    stamp: int
    previous: VideoFrame | None
    next: VideoFrame | None
    kept: tuple[Any, ...] = ()  # (keep's value,) once kept, and the frames let go
    had_next: bool = False  # a frame after it was decoded (next, before it was let go)


@dataclass
class _Pass:
    """What one decoding pass saw, for the targets it resolves (ascending timestamps)."""

    targets: list[int]
    shown: list[_Shown | None] = field(default_factory=list)
    first: VideoFrame | None = None
    first_stamp: int | None = None
    first_packet_dts: int | None = None
    missing_from: int | None = None  # frames from this timestamp on may be missing (damaged data)
    read: list[int] = field(default_factory=list)  # sorted presentation times of the packets read
    concealed: bool = False  # the decoder hid damage in a frame it gave
    # Makes what the walk returns of a frame as soon as the frame after it is decoded, so that a
    # pass over many targets holds those (small pictures, say), not the decoder's frames: each
    # frame held keeps a picture buffer from the decoder's pool, and a preview of 300 frames would
    # hold 300 of them.
    keep: _Keep | None = None

    def __post_init__(self) -> None:
        self.shown = [None] * len(self.targets)

    def doubt(self, stamp: int) -> None:
        self.missing_from = stamp if self.missing_from is None else min(self.missing_from, stamp)

    def latest_read(self, target: int) -> int | None:
        """The latest presentation time <= `target` among the packets read."""
        index = bisect.bisect_right(self.read, target)
        return self.read[index - 1] if index else None

    def resolved(self) -> bool:
        return bool(self.targets) and self.shown[0] is not None


@dataclass
class Video:
    """An opened video: container, chosen stream, its decoder and its timeline."""

    reader: BinaryIO
    settings: Settings
    container: av.container.InputContainer = field(init=False)
    stream: VideoStream = field(init=False)
    decoder: VideoCodecContext = field(init=False)
    timeline: Timeline = field(init=False)
    _fresh: bool = field(init=False, default=True)  # nothing read since opening: we are at the start
    _interlaced: bool = field(init=False, default=False)  # an interlaced frame was seen
    _threads_allowed: bool = field(init=False, default=True)  # more than one, until a pass looks damaged (see walk)
    _suspect: bool = field(init=False, default=False)  # a pass on threads may have lost or hidden damage
    _threaded: str | None = field(init=False, default=None)  # "FRAME" or "SLICE": the decoder has more than one thread
    _keyframe_asked: bool = field(init=False, default=False)  # keyframes are asked for (fast mode)
    _keyframes: set[int] = field(init=False, default_factory=set)  # timestamps of the keyframe packets read

    def __post_init__(self) -> None:
        self._open()
        self.timeline = Timeline.of(self.container, self.stream)

    def _open(self) -> None:
        self._fresh = True
        self.container, self.stream = open_container(self.reader, self.settings)
        try:
            self.decoder = make_decoder(self.stream, self.settings)
        except BaseException:
            self.container.close()
            raise

    @property
    def sample_aspect(self) -> Fraction:
        return sample_aspect(self.stream)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding frames ------------------------------------------------------------------

    def find(self, offset_ms: int, budget: Budget, *, keyframe: bool = False) -> Found:
        """The frame shown at `offset_ms` (or, with `keyframe`, the keyframe at or before it)."""
        return next(self.walk([offset_ms], budget, keyframe=keyframe))[1]

    def walk(
        self, offsets_ms: Iterable[Offset], budget: Budget, *, keyframe: bool = False,
        keep: Callable[[Found], T] = lambda found: found,  # type: ignore[assignment,return-value]
    ) -> Iterator[tuple[Offset, T]]:
        """(offset, keep(frame shown at it)) for each distinct offset (ms), in ascending order; with
        `keyframe`, the keyframe at or before each. `keep` is called once per distinct frame, as
        soon as the frame is known, so that the walk holds what it returns (a small picture, say)
        rather than the decoder's frames.

        Frame threads decode on every core, but on damaged data they drop the frames in flight
        without a word, or conceal errors depending on timing; and the thread count, of frame or
        slice threads, changes what some decoders (VP9's, dav1d) make of damaged data. So the
        answers of a pass decoded on threads stand only if it met no damage, the decoder concealed
        nothing, and (exact frames) each frame found is the latest one the packets read say is shown
        by then; otherwise the pass is made again on one thread, whose answer does not depend on
        the machine or the load, and so is the rest of the walk."""
        self._keyframe_asked = keyframe
        offsets = sorted(set(offsets_ms))
        if not offsets:
            return
        self._find_start(budget)
        targets = [self.timeline.target(offset) for offset in offsets]
        by_target: dict[int, list[Offset]] = {}
        for offset, target in zip(offsets, targets, strict=True):
            by_target.setdefault(target, []).append(offset)
        for group in self._groups(sorted(by_target), budget):
            for target, kept in self._resolve_group(group, budget, keyframe, keep):
                for offset in by_target[target]:
                    yield offset, kept

    def _resolve_group(
        self, group: list[int], budget: Budget, keyframe: bool, keep: Callable[[Found], T]
    ) -> list[tuple[int, T]]:
        try:
            results = self._pass_over(group, budget, keyframe, keep)
            if not self._suspect:
                return results
        except ProcessingFailed:  # no frame, or a truncation: what threads may have made up
            if not self._threaded:
                raise
        self._on_one_thread()
        return self._pass_over(group, budget, keyframe, keep)

    def _on_one_thread(self) -> None:
        """From now on, decode on one thread: open again, with a decoder not opened yet."""
        self._threads_allowed = self._suspect = False
        self._threaded = None
        self.container.close()
        self._open()

    def _find_start(self, budget: Budget) -> None:
        """The timestamp of offset 0, when the headers do not say: the first frame's."""
        if self.timeline.start is not None:
            return
        first = self._decode(None, [], keyframe=False, budget=budget)
        if first.first_stamp is None:
            if self._threaded:  # threads may have lost it: look again on one
                self._on_one_thread()
                first = self._decode(None, [], keyframe=False, budget=budget)
            if first.first_stamp is None:
                raise _nothing_decodable()
        self.timeline.start = first.first_stamp

    def _pass_over(
        self, targets: list[int], budget: Budget, keyframe: bool, keep: Callable[[Found], T]
    ) -> list[tuple[int, T]]:
        """One pass resolving `targets` (a group, see _groups): positioned for the first of them."""
        assert self.timeline.start is not None
        found = None
        if self.container.format.name not in SEQUENTIAL_FORMATS:
            seek_to = min(targets[0], _INT64_MAX)
            for step in range(_MAX_STEPS_BACK + 1):
                seen = self._decode(seek_to, targets, keyframe=keyframe, budget=budget, keep=self._keeper(keep))
                if seen.resolved():
                    found = seen
                    break
                if seen.first_stamp is None:
                    break  # nothing decodable after this seek point: try from the start
                if seen.first_stamp <= self.timeline.start:  # the first target is before the first frame
                    found = _first_as_frame(seen)
                    break
                # The seek landed after the target: step back past where it landed, further each
                # time (an index lands exactly on keyframes; MPEG-TS seeks by searching timestamps).
                landed = min(s for s in (seen.first_packet_dts, seen.first_stamp) if s is not None)
                seek_to = min(landed, seek_to) - 1 - int((2**step - 1) / self.timeline.time_base)
        if found is None:
            found = self._decode(None, targets, keyframe=keyframe, budget=budget, keep=self._keeper(keep))
            if not found.resolved() and found.first is not None:
                found = _first_as_frame(found)
            if not found.resolved():
                raise _nothing_decodable()
        return self._answers(found, keep)

    def _keeper(self, keep: Callable[[Found], T]) -> _Keep:
        """`keep` as a pass calls it on a resolved frame (see _Pass.keep)."""
        def kept(frame: VideoFrame, stamp: int, previous: VideoFrame | None, next: VideoFrame | None) -> T:
            return keep(Found(frame, self.timeline.seconds(stamp), previous, next))

        return kept

    def _answers(self, seen: _Pass, keep: Callable[[Found], T]) -> list[tuple[int, T]]:
        """Each target's frame, kept; a target whose frame the damage may have taken fails."""
        end = self.timeline.declared_end(self.container, self.stream)
        answers: list[tuple[int, T]] = []
        kept: tuple[int, T] | None = None
        for target, shown in zip(seen.targets, seen.shown, strict=True):
            assert shown is not None  # a resolved pass resolves every target (see _keep)
            # The data ended before a frame past the target. If a refused packet or data lost to a
            # read error could hold a frame shown at the target, the frame asked for is missing.
            doubtful = seen.missing_from is not None and shown.stamp < target and target >= seen.missing_from
            if doubtful and not (shown.had_next or shown.next is not None) and target < end:
                raise ProcessingFailed("The video is truncated or corrupt before the requested moment.")
            if kept is None or kept[0] != shown.stamp:
                if shown.kept:
                    kept = (shown.stamp, shown.kept[0])
                else:
                    assert shown.frame is not None
                    found = Found(shown.frame, self.timeline.seconds(shown.stamp), shown.previous, shown.next)
                    kept = (shown.stamp, keep(found))
            answers.append((target, kept[1]))
        return answers

    def _groups(self, targets: list[int], budget: Budget) -> Iterator[list[int]]:
        """The targets in runs that one pass resolves: in an indexed container, those whose seek
        lands on the same keyframe (which one seek and one packet each tell); read from the start,
        all of them; elsewhere, where a seek may land anywhere, a target no further after the one
        before it than the longest GOP the passes so far have read (at most
        MAX_DECODED_GAP_SECONDS): decoding on to it costs no more than a GOP, as a seek would.
        Made as the walk goes, so that each run knows what the passes before it read."""
        name = self.container.format.name
        if len(targets) == 1 or name in SEQUENTIAL_FORMATS:
            yield targets
        elif name.startswith(INDEXED_FORMATS):
            yield from self._groups_by_keyframe(targets, budget)
        else:
            group = [targets[0]]
            for target in targets[1:]:
                if target - group[-1] <= self._longest_gop():
                    group.append(target)
                else:
                    yield group
                    group = [target]
            yield group

    def _longest_gop(self) -> int:
        """The longest gap between two keyframes read so far, in ticks (0 before two are read)."""
        keyframes = sorted(self._keyframes)
        longest = max((b - a for a, b in zip(keyframes, keyframes[1:], strict=False)), default=0)
        return min(longest, int(MAX_DECODED_GAP_SECONDS / self.timeline.time_base))

    def _groups_by_keyframe(self, targets: list[int], budget: Budget) -> list[list[int]]:
        groups: list[list[int]] = []
        previous: int | None = None
        for target in targets:
            landing = self._landing(target, budget)
            if groups and landing is not None and landing == previous:
                groups[-1].append(target)
            else:
                groups.append([target])
            previous = landing
        self._fresh = False
        return groups

    def _landing(self, target: int, budget: Budget) -> int | None:
        """The presentation time of the keyframe a pass for `target` starts from: where a seek to it
        lands, stepped back past keyframes shown after it as the pass would. None: not known this way."""
        seek_to = min(target, _INT64_MAX)
        for step in range(_MAX_STEPS_BACK + 1):
            budget.check_time()
            if not self._seek(seek_to):
                return None
            try:
                packet = next(p for p in self.container.demux(self.stream) if p.size)
            except (StopIteration, av.error.FFmpegError, OSError, IndexError):
                return None
            except MemoryError:
                raise OutOfMemory() from None
            if packet.pts is None or not packet.is_keyframe:
                return None
            if packet.pts <= target:
                return packet.pts
            landed = packet.pts if packet.dts is None else min(packet.dts, packet.pts)  # (Matroska: no dts)
            seek_to = min(landed, seek_to) - 1 - int((2**step - 1) / self.timeline.time_base)
        return None

    # -- one pass ------------------------------------------------------------------------

    def _choose_threads(self) -> None:
        """Before the decoder's first frame (chosen once, when the decoder opens)."""
        if self.decoder.is_open:
            return
        self._threaded = threads.configure(
            self.decoder, self.settings.decoder_threads, single=not self._threads_allowed or self._keyframe_asked,
            timed_by_delay=self.timeline.use_dts,
        )

    def _decode(self, seek_to: int | None, targets: list[int], *, keyframe: bool, budget: Budget,
                keep: _Keep | None = None) -> _Pass:
        """Seek to the keyframe at or before `seek_to` (None: from the very first byte, as a plain
        sequential player reads), decode forward and resolve `targets` (none: stop at the first
        frame). With `keyframe`, only keyframes count."""
        seeked = seek_to is not None and self._seek(seek_to)
        if not seeked and not self._fresh:
            self.container.close()
            self._open()
        self._fresh = False
        self._choose_threads()  # (the first pass, which finds where the video starts, included)
        self.decoder.flush_buffers()
        # AVI with B-frames is timed by the decode timestamp a frame leaves the decoder with, which
        # depends on its delay: skipping frames would change it, so every frame is decoded there.
        self._skip_nonkey(keyframe and not self.timeline.use_dts)
        seen = _Pass(targets, keep=keep)
        last = targets[-1] if targets else None
        fed_through = last if last is not None and not keyframe and self._exact_durations else None
        # Skipping non-reference frames changes when the others leave the decoder: not where that
        # times them (AVI's decode timestamps), and only for decoders that honour it frame by frame.
        skipping = bool(targets) and not keyframe and not self.timeline.use_dts and self.decoder.name in SKIPPERS
        frames = self._frames(seen, budget, stop_after=last if keyframe else None, fed_through=fed_through,
                              skip_unshown=skipping, keyframes_only=self._keyframe_packets(keyframe))
        try:
            return self._keep(seen, frames, keyframe=keyframe, keyed=not seeked)
        finally:
            self._suspect = self._suspect or (
                self._threaded is not None and _looks_damaged(seen, keyframe, self._threaded == "FRAME"))

    def _keep(self, seen: _Pass, frames: Iterator[tuple[VideoFrame, bool]], *, keyframe: bool, keyed: bool) -> _Pass:
        """The frames of one pass that resolve its targets (see _decode)."""
        stamp = None
        held: _Shown | None = None
        index = 0  # the first target not resolved yet
        for frame, key in frames:
            stamp = self.timeline.stamp(frame, stamp)
            keyed = keyed or key
            if stamp is None or not keyed or (keyframe and not key):
                continue  # before the first keyframe after a seek, a frame lacks its references
            if seen.first_stamp is None:
                seen.first, seen.first_stamp = frame, stamp
            if not seen.targets:
                return seen
            if stamp > seen.targets[index]:
                if held is None:
                    return seen  # the first target is shown before the first frame of this pass
                held.next = frame
                while index < len(seen.targets) and stamp > seen.targets[index]:
                    seen.shown[index] = held
                    index += 1
                if index == len(seen.targets):
                    return seen
            # Only frames still needed are held: each one held keeps a picture buffer from the
            # decoder's pool (25 MB at 4K 10-bit), which then allocates another. The first frame
            # stands in when none is shown by the first target; deinterlacing an interlaced frame
            # uses the one before it.
            previous = held.frame if held is not None and frame.interlaced_frame else None
            if held is not None and held.next is not None and seen.shown[0] is not held:
                _let_go(held, seen)  # resolved, and not the first (which _first_as_frame may need)
            held = _Shown(frame, stamp, previous, None)
            seen.first = None
        if held is not None:
            seen.shown[index:] = [held] * (len(seen.targets) - index)
        return seen

    def _keyframe_packets(self, keyframe: bool) -> bool:
        """Whether keyframe mode decodes only keyframe packets: a keyframe needs no other frame, and
        containers with an index (MP4, Matroska) flag keyframes reliably. Elsewhere every packet is
        decoded (AVI with B-frames is timed by the decoder's delay, which skipped packets would
        change). Not only the first keyframe read after a seek: MP4's seek compares the target with
        its index's times, which can run ahead of the packets' own (a VFR MP4 whose decode times
        start below zero landed one keyframe early), so the keyframes up to the target are read."""
        return keyframe and not self.timeline.use_dts and self.container.format.name.startswith(INDEXED_FORMATS)

    @property
    def _exact_durations(self) -> bool:
        """The container's packet durations are the exact gaps between decode times (MP4's stts)."""
        return self.container.format.name.startswith("mov,")

    def _seek(self, seek_to: int) -> bool:
        if not _INT64_MIN <= seek_to <= _INT64_MAX:
            return False  # past what FFmpeg can be asked (a damaged start time near -2^63): from the start
        try:
            self.container.seek(seek_to, stream=self.stream, backward=True, any_frame=False)
            return True
        except av.error.FFmpegError:
            return False  # a format that cannot seek is read from the start

    def _skip_nonkey(self, keyframe: bool) -> None:
        """Keyframe mode: let the decoder skip every other frame (libvpx ignores this; frames are
        filtered by their flag anyway)."""
        try:
            self.decoder.skip_frame = "NONKEY" if keyframe else "DEFAULT"
        except (ValueError, AttributeError, av.error.FFmpegError):
            pass

    def _frames(
        self, seen: _Pass, budget: Budget, stop_after: int | None, fed_through: int | None = None,
        skip_unshown: bool = False, keyframes_only: bool = False,
    ) -> Iterator[tuple[VideoFrame, bool]]:
        """Decoded frames from here to the end; with `stop_after`, up to the first packet decoded
        after that timestamp (no frame from it can be shown earlier); with `fed_through`, up to the
        last packet whose decode time is at or before it, then the decoder is drained. A frame is
        never shown before it is decoded, so no later packet holds a frame shown by then, and its
        bytes (a remote read) are never fetched. With `skip_unshown`, the decoder skips the
        non-reference frames that cannot be the one shown at any target (see _may_skip). With
        `keyframes_only`, only keyframe packets shown by the last target are decoded."""
        packets = self.container.demux(self.stream)
        last_dts: int | None = None
        while True:
            budget.check_time()
            try:
                packet = next(packets)
            except StopIteration:
                if self._ends_before_its_index(last_dts):
                    seen.doubt(last_dts + 1 if last_dts is not None else _INT64_MIN)
                break
            except MemoryError:
                raise OutOfMemory() from None
            except (av.error.FFmpegError, OSError, IndexError):
                # IndexError: PyAV's demux, meeting a stream that appeared mid-file (MPEG-TS, FLV),
                # looks past its list of streams; what follows is unreadable to us all the same.
                # What was not read has decode timestamps after the last one read, and a frame is
                # never shown before it is decoded.
                seen.doubt(last_dts + 1 if last_dts is not None else _INT64_MIN)
                break
            last_dts = packet.dts if packet.dts is not None else last_dts
            if packet.is_corrupt:  # partial data: a file cut inside this packet, or damaged transport
                seen.doubt(packet.pts if packet.pts is not None else last_dts if last_dts is not None else _INT64_MIN)
            if seen.first_packet_dts is None:
                seen.first_packet_dts = packet.dts
            if packet.is_keyframe and packet.pts is not None:
                self._keyframes.add(packet.pts)
            if packet.size == 0:
                continue
            if skip_unshown:
                self.decoder.skip_frame = "NONREF" if self._may_skip(packet, seen) else "DEFAULT"
            if seen.targets and packet.pts is not None and not packet.is_discard:
                bisect.insort(seen.read, packet.pts)  # (packets an edit list discards are never shown)
            if not keyframes_only or (packet.is_keyframe and not _after(packet, stop_after)):
                for item in self._decode_packet(packet, seen, budget):
                    self._interlaced = self._interlaced or bool(item[0].interlaced_frame)
                    yield item
            # MP4's index gives each sample's duration as the gap to the next decode time, so the
            # next packet's decode time is known without reading it. Interlaced pictures are read
            # on to the next frame, which deinterlacing uses.
            if (
                fed_through is not None and packet.dts is not None and packet.duration
                and packet.dts + packet.duration > fed_through and not self._interlaced
            ):
                break
            if stop_after is not None and packet.dts is not None and packet.dts > stop_after:
                break
        yield from self._decode_packet(None, seen, budget)

    def _ends_before_its_index(self, last_dts: int | None) -> bool:
        """Whether the data ended cleanly before a packet an MP4's sample table lists: a file cut
        on a packet boundary, which the demuxer reports as a plain end. Its table lists every
        sample by decode time, so a listed sample after the last one read is missing. (Matroska's
        cues list only keyframes, by presentation time, and other indexes grow as the file is read.)"""
        if not self.container.format.name.startswith("mov,"):
            return False
        entries = self.stream.index_entries
        if not len(entries):
            return False
        return last_dts is None or entries[len(entries) - 1].timestamp > last_dts

    def _may_skip(self, packet: av.Packet[Any], seen: _Pass) -> bool:
        """Whether the frame in `packet` cannot be the one shown at any target, so that the decoder
        may skip it if no other frame refers to it (a B-frame, typically): it is shown after the
        last target, or before a frame already read that is shown by the first target at or after
        it. Not for interlaced video, whose deinterlacer needs the frames beside the one shown."""
        if packet.pts is None or self._interlaced:
            return False
        index = bisect.bisect_left(seen.targets, packet.pts)
        if index == len(seen.targets):
            return True
        latest = seen.latest_read(seen.targets[index])
        return latest is not None and packet.pts < latest

    def _decode_packet(
        self, packet: av.Packet[Any] | None, seen: _Pass, budget: Budget
    ) -> Iterator[tuple[VideoFrame, bool]]:
        """The frames one packet (None: the end) gives, each with whether it is a keyframe."""
        try:
            frames = self.decoder.decode(packet)
        except MemoryError:
            raise OutOfMemory() from None
        except (av.error.FFmpegError, ValueError):
            if packet is not None:
                seen.doubt(packet.pts if packet.pts is not None else _INT64_MIN)
            return
        unflagged = self.decoder.name in UNFLAGGED_KEYFRAMES and packet is not None and packet.is_keyframe
        for frame in frames:
            budget.spend_frame()
            check_frame_pixels(frame.width, frame.height, self.settings)
            seen.concealed = seen.concealed or frame.is_corrupt
            yield frame, bool(frame.key_frame) or unflagged


def _after(packet: av.Packet[Any], stamp: int | None) -> bool:
    """The packet's frame is shown after `stamp` (a keyframe past the last target is not decoded)."""
    return stamp is not None and packet.pts is not None and packet.pts > stamp


def _looks_damaged(seen: _Pass, keyframe: bool, frame_threads: bool) -> bool:
    """Whether a pass on threads may have lost a frame or hidden damage (see Video.walk): frame
    threads also drop the frames in flight, which the packets read show."""
    if seen.missing_from is not None or seen.concealed:
        return True
    if not seen.targets or keyframe:
        return seen.first_stamp is None
    if not frame_threads:
        return False
    for target, shown in zip(seen.targets, seen.shown, strict=True):
        latest = seen.latest_read(target)
        if latest is not None and (shown is None or shown.stamp != latest):
            return True
    return False


def _let_go(shown: _Shown, seen: _Pass) -> None:
    """Keep what the walk returns of a resolved frame, and let its frames go (see _Pass.keep)."""
    if seen.keep is None or shown.frame is None:
        return
    shown.kept = (seen.keep(shown.frame, shown.stamp, shown.previous, shown.next),)
    shown.had_next = shown.next is not None
    shown.frame = shown.previous = shown.next = None


def _first_as_frame(seen: _Pass) -> _Pass:
    """The pass with its first frame standing for the targets shown before it."""
    assert seen.first is not None and seen.first_stamp is not None
    shown = seen.shown[0]
    next_frame = shown.next if shown is not None else None
    stand_in = _Shown(seen.first, seen.first_stamp, None, next_frame if next_frame is not seen.first else None)
    result = _Pass(seen.targets, first=seen.first, first_stamp=seen.first_stamp, missing_from=seen.missing_from)
    result.shown = [s if s is not None and s.stamp >= seen.first_stamp else stand_in for s in seen.shown]
    return result


def _nothing_decodable() -> ProcessingFailed:
    return ProcessingFailed("No frame of the video could be decoded: it is truncated, corrupt or encrypted.")
