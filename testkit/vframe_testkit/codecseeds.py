"""A seed video for every decoder the default codec policy allows (vframe/decoders.py), so that
the fuzz suite runs over each of them: made with PyAV where FFmpeg has an encoder for the codec,
taken from the shared corpus where it has a file, and, for the rest, the reason there is none.

Each made seed is tiny (SEED_FRAMES frames of SEED_WIDTH x SEED_HEIGHT, a keyframe every
SEED_GOP frames where the codec has inter frames), and frame k shows k (synth.index_pattern) at
k / fps s (SEED_FPS, or the one rate the format has), so the undamaged seed also checks that the
decoder gives the exact frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.stream import VideoStream

from vframe_testkit import synth

SEED_WIDTH, SEED_HEIGHT, SEED_FPS, SEED_FRAMES, SEED_GOP = 128, 96, 24, 8, 4


@dataclass(frozen=True)
class Made:
    """A seed made with an encoder: `encoder` into a file named `name` (its extension picks the muxer)."""

    name: str
    encoder: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    size: tuple[int, int] = (SEED_WIDTH, SEED_HEIGHT)
    fps: int = SEED_FPS
    alpha: bool = False  # paint an alpha channel (the libvpx decoders are used only for VP8/VP9 with alpha)


@dataclass(frozen=True)
class Corpus:
    """A seed taken from the shared corpus (its path under videos/)."""

    path: str


SEEDS: dict[str, Made | Corpus] = {
    "h264": Made("h264.mp4", "libx264", "yuv420p", {"preset": "veryfast", "bf": "2", "x264-params": "b-adapt=0"}),
    "hevc": Made("hevc.mkv", "libx265", "yuv420p", {
        "preset": "ultrafast", "x265-params": f"keyint={SEED_GOP}:min-keyint={SEED_GOP}:scenecut=0:log-level=error"}),
    "vp8": Made("vp8.webm", "libvpx", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "1M"}),
    "vp9": Made("vp9.webm", "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "20",
                                                       "b": "0"}),
    "libvpx": Made("vp8_alpha.webm", "libvpx", "yuva420p", {  # libvpx refuses alpha with alternate references
        "deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "1M", "auto-alt-ref": "0"}, alpha=True),
    "libvpx-vp9": Made("vp9_alpha.webm", "libvpx-vp9", "yuva420p", {"deadline": "realtime", "cpu-used": "8",
                                                                    "crf": "20", "b": "0"}, alpha=True),
    "libdav1d": Made("av1.mp4", "libsvtav1", "yuv420p", {"preset": "8", "crf": "25", "svtav1-params": "scd=0"}),
    "mpeg1video": Made("mpeg1.mpg", "mpeg1video", "yuv420p", {"qscale": "3"}),
    "mpeg2video": Made("mpeg2.ts", "mpeg2video", "yuv420p", {"qscale": "3", "bf": "2"}),
    "mpeg4": Made("mpeg4.avi", "mpeg4", "yuv420p", {"qscale": "3"}),
    "msmpeg4": Made("msmpeg4v3.avi", "msmpeg4", "yuv420p", {"qscale": "3"}),
    "msmpeg4v2": Made("msmpeg4v2.avi", "msmpeg4v2", "yuv420p", {"qscale": "3"}),
    "h261": Made("h261.avi", "h261", "yuv420p", {"qscale": "3"}, size=(176, 144)),
    "h263": Made("h263.avi", "h263", "yuv420p", {"qscale": "3"}),
    "flv": Made("flv1.flv", "flv", "yuv420p", {"qscale": "3"}),
    "wmv1": Made("wmv1.wmv", "wmv1", "yuv420p", {"qscale": "3"}),
    "wmv2": Made("wmv2.wmv", "wmv2", "yuv420p", {"qscale": "3"}),
    "rv10": Made("rv10.rm", "rv10", "yuv420p", {"qscale": "3"}),
    "rv20": Made("rv20.rm", "rv20", "yuv420p", {"qscale": "3"}),
    "svq1": Made("svq1.mov", "svq1", "yuv410p", {"qscale": "3"}),
    "mjpeg": Made("mjpeg.avi", "mjpeg", "yuvj420p", {"qscale": "3"}),
    "dvvideo": Made("dv.dv", "dvvideo", "yuv420p", size=(720, 576), fps=25),
    "prores": Made("prores.mov", "prores_ks", "yuv422p10le"),
    "dnxhd": Made("dnxhr.mov", "dnxhd", "yuv422p", {"profile": "dnxhr_lb"}, size=(256, 128)),
    "cfhd": Made("cfhd.mov", "cfhd", "yuv422p10le"),
    "ffv1": Made("ffv1.mkv", "ffv1", "yuv420p"),
    "huffyuv": Made("huffyuv.avi", "huffyuv", "yuv422p"),
    "ffvhuff": Made("ffvhuff.avi", "ffvhuff", "yuv420p"),
    "utvideo": Made("utvideo.avi", "utvideo", "yuv420p"),
    "rawvideo": Made("rawvideo.nut", "rawvideo", "yuv420p"),
    "png": Made("png.mov", "png", "rgb24"),
    "qtrle": Made("qtrle.mov", "qtrle", "rgb24"),
    "rpza": Made("rpza.mov", "rpza", "rgb555le"),
    "cinepak": Made("cinepak.avi", "cinepak", "rgb24"),
    "theora": Corpus("20_legacy_codecs/deb-mimetype__ogg.ogv"),
}
# Decoders the default allows that no seed exercises, and why: the fuzz suite reports each as a
# skip with this reason. A decoder added to the default must get a seed above or a line here.
UNSEEDED: dict[str, str] = {
    "av1": "FFmpeg's own AV1 decoder needs hardware acceleration, so this build reads AV1 with libdav1d (seeded)",
    **{name: "FFmpeg has no encoder for it and the shared corpus has no file in it" for name in (
        "cavs", "h263i", "msmpeg4v1", "rv30", "rv40", "svq3", "vc1", "vp6", "vp6a", "vp6f", "wmv3", "vvc")},
    "h263p": "no container vframe opens keeps H.263+ apart from H.263: such files are read with the h263 "
             "decoder (seeded)",
    "hap": "FFmpeg's Hap encoder needs libsnappy, which this build of PyAV lacks, and the corpus has no Hap file",
}


def seed_times(decoder: str) -> tuple[Fraction, ...]:
    """When each frame of `decoder`'s made seed is shown: frame k at k / fps."""
    seed = SEEDS[decoder]
    assert isinstance(seed, Made)
    return tuple(Fraction(index, seed.fps) for index in range(SEED_FRAMES))


def make(decoder: str, folder: Path, videos: Path) -> Path | None:
    """The seed of `decoder` (made in `folder`, or the corpus file under `videos`); None when the
    corpus file it needs is absent. KeyError for a decoder with no seed."""
    seed = SEEDS[decoder]
    if isinstance(seed, Corpus):
        path = videos / seed.path
        return path if path.is_file() else None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / seed.name
    if not path.exists():
        encode(path, seed)
    return path


def encode(path: Path, seed: Made) -> None:
    """`seed` written to `path`: frame k shows k at k / seed.fps s."""
    width, height = seed.size
    # bitexact: no random track and segment IDs (Matroska) nor version strings, so the same bytes on
    # every run, and a mutant's name (fuzzing.mutant) stands for the same file everywhere
    with av.open(str(path), "w", container_options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(seed.encoder, rate=seed.fps, options={
            "g": str(SEED_GOP), "flags": "+bitexact", "threads": "1", **seed.options})
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, seed.pix_fmt
        for index in range(SEED_FRAMES):
            rgb = synth.index_pattern(index, width, height)
            if seed.alpha:  # opaque where the index is painted, see-through in a band at the top
                alpha = np.full((height, width, 1), 255, np.uint8)
                alpha[: height // 10] = 0
                picture = av.VideoFrame.from_ndarray(np.concatenate([rgb, alpha], axis=2), format="rgba")
            else:
                picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = picture.reformat(format=seed.pix_fmt)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
