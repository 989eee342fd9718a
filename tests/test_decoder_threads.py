"""How many threads decode a frame, and of which kind (issue 6): frame threads for an exact frame,
bounded by the memory their pictures take; slice threads for one keyframe; one thread per request
when the service's other workers are busy. The frames themselves are the exactness suite's concern;
here each choice is also checked to give the frame asked for."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vframe
from vframe.limits import Budget
from vframe.media import threads
from vframe.metrics import Metrics
from vframe.pipeline import open_video
from vframe.settings import DEFAULT, Settings
from vframe.workers import WorkerPool
from vframe_testkit import synth
from vframe_testkit.fuzzing import make_h264_avi
from vframe_testkit.synth import SynthVideo

CORES = len(os.sched_getaffinity(0))
PICTURE_BYTES = 320 * 240 * 3 // 2  # one yuv420p picture of the synthetic videos


def decoded(video: SynthVideo, offset_ms: int, settings: Settings = DEFAULT, *, keyframe: bool = False
            ) -> tuple[str, int, int]:
    """The decoder's thread type and count after finding the frame, and the index it shows."""
    with open_video(video.path, settings, Budget(settings)) as opened:
        found = opened.find(offset_ms, Budget(settings), keyframe=keyframe)
        shown = synth.read_index(found.frame.to_ndarray(format="rgb24"))
        return opened.decoder.thread_type.name, opened.decoder.thread_count, shown


def test_an_exact_frame_is_decoded_on_frame_threads_one_per_core_plus_one(synthetic: dict[str, SynthVideo]) -> None:
    video = synthetic["h264_bframes.mp4"]
    kind, count, shown = decoded(video, 1_500)
    if CORES >= 2:
        assert (kind, count) == ("FRAME", CORES + 1)
    else:  # one core: frame threads would only hold pictures
        assert kind == "SLICE"
    assert shown == index_at(video, 1_500)


def test_a_keyframe_is_decoded_on_one_thread(synthetic: dict[str, SynthVideo]) -> None:
    video = synthetic["h264_bframes.mp4"]
    kind, count, shown = decoded(video, 1_500, Settings(decoder_threads=3), keyframe=True)
    assert (kind, count) == ("SLICE", 1)
    assert shown == index_at(video, 1_500) // 12 * 12  # a keyframe every 12 frames


def test_a_damaged_keyframe_gives_the_same_picture_on_any_thread_count(tmp_path: Path) -> None:
    """A fuzz finding: 16 bytes zeroed inside a keyframe of H.264 in AVI (fast mode decodes from the
    keyframe there, every frame, as AVI is timed by decode order). On slice threads FFmpeg's H.264
    decoder neither conceals nor reports the damaged slice, so the picture differed from the
    one-thread one, which depended on the service's load. Fast mode now decodes on one thread."""
    video = make_h264_avi(tmp_path / "seed.avi")
    keyframe = next(p for p in synth.samples(video.path) if p.key and p.pos > 0 and p.pts == 25)  # frame 24, 1 s
    data = bytearray(video.path.read_bytes())
    data[keyframe.pos + 230: keyframe.pos + 246] = bytes(16)
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    spec = "vframe/png/offset/1.2/w/64/h/48/mode/fast"
    pictures = {threads: vframe.grab(damaged, spec, Settings(decoder_threads=threads)) for threads in (1, 3)}
    assert pictures[1].time == pictures[3].time == 1
    assert pictures[1].data == pictures[3].data


@pytest.mark.parametrize(("budget", "expected"), [(3, ("FRAME", 3)), (2, ("FRAME", 2)), (1, ("SLICE", 3))])
def test_frame_threads_are_bounded_by_the_memory_of_their_pictures(
    budget: int, expected: tuple[str, int], synthetic: dict[str, SynthVideo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each frame thread holds a picture: FRAME_THREAD_BYTES bounds their number (4K 10-bit: 2 of
    25 MB); a picture too large for two is decoded on slice threads."""
    monkeypatch.setattr(threads, "FRAME_THREAD_BYTES", budget * PICTURE_BYTES)
    video = synthetic["h264_bframes.mp4"]
    kind, count, shown = decoded(video, 1_500, Settings(decoder_threads=3))
    assert (kind, count) == expected
    assert shown == index_at(video, 1_500)


def test_a_ten_bit_picture_counts_two_bytes_a_sample(tmp_path: Path) -> None:
    eight = synth.make_video(tmp_path / "8.mp4", codec="libx265", frames=4, gop=4, bframes=0)
    ten = synth.make_video(tmp_path / "10.mp4", codec="libx265", frames=4, gop=4, bframes=0, pix_fmt="yuv420p10le")
    sizes = []
    for video in (eight, ten):
        with open_video(video.path, DEFAULT) as opened:
            sizes.append(threads.picture_bytes(opened.decoder))
    assert sizes == [PICTURE_BYTES, 2 * PICTURE_BYTES]


@pytest.mark.parametrize("busy", range(CORES + 1))
def test_the_service_gives_a_request_the_idle_cores(busy: int) -> None:
    """A request starting while `busy` others decode: frame threads over the idle cores when there
    are two or more, else one thread (every core already decodes a request of its own)."""
    pool = WorkerPool(Settings(workers=CORES), Metrics())
    pool.busy = busy
    idle = CORES - busy
    assert pool._decoder_threads() == (idle + 1 if idle >= 2 else 1)


def test_a_set_thread_count_is_kept_by_the_service(synthetic: dict[str, SynthVideo]) -> None:
    """`--decoder-threads N` is the operator's: the service passes it through unchanged (checked
    by decoding with what a job would carry)."""
    settings = Settings(decoder_threads=2)
    assert (settings.decoder_threads or WorkerPool(settings, Metrics())._decoder_threads()) == 2
    kind, count, _ = decoded(synthetic["h264_bframes.mp4"], 500, settings)
    assert (kind, count) == ("FRAME", 2)


@pytest.mark.parametrize("index", [37, 38, 43])
def test_damage_after_the_frame_does_not_change_it_on_frame_threads(
    index: int, synthetic: dict[str, SynthVideo], tmp_path: Path
) -> None:
    """Frame threads drop the frames still in flight when a later packet is damaged, without a word;
    such a pass is redone on slice threads, so the answer is still the frame asked for."""
    video = synthetic["h264_bframes.mp4"]
    packets = synth.samples(video.path)  # file order, which is decode order
    target = sorted(packets, key=lambda p: p.pts)[index]
    data = bytearray(video.path.read_bytes())
    later = [p for p in packets[packets.index(target) + 1:] if not p.key][:3]
    for packet in later:  # the packets decoded right after the frame's own
        garbage = bytes(range(256)) * (packet.size // 256 + 1)
        data[packet.pos + 8: packet.pos + packet.size] = garbage[: packet.size - 8]
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = vframe.grab(damaged, f"vframe/png/offset/{float(video.times[index]):.3f}")
    assert result.time == video.times[index]
    assert synth.read_index(np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))) == index


def index_at(video: SynthVideo, offset_ms: int) -> int:
    """The frame shown at `offset_ms`: the last one whose time is not after it."""
    return max(i for i, t in enumerate(video.times) if t * 1000 <= offset_ms)
