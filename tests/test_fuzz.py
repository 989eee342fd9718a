"""A bounded mutation fuzz of the service (issue 5): a few hundred damaged videos (vframe_testkit.fuzzing),
served by one real `vframe serve`, each asked for one frame over HTTP. Damaged input may fail, but
only the documented ways: a 200 that is a real image of the asked format, or 413, 415 or 599 with a
one-line JSON message; never a 500, never an answer later than the deadline (plus a margin for a
busy machine: this is a hang check, not a speed test), never a dead server. A decoder crashing in a
worker is allowed (a 599 and a restart): the restarts are reported, not asserted.

The mutants are the same on every run (a fixed seed), so a failure names a mutant that reproduces
alone; `tools/fuzz.py` (`make fuzz`) runs new ones for as long as one likes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from conftest import NO_CORPUS, VIDEOS, video

import vframe
from vframe.decoders import DEFAULT as DEFAULT_DECODERS
from vframe_testkit import codecseeds, synth
from vframe_testkit.fuzzing import (
    PRISTINE,
    Answer,
    Request,
    ask,
    corpus_seed_videos,
    error_message,
    frame_index,
    make_h264_avi,
    make_seed_videos,
    mutant,
    mutants,
    pristine_problem,
    request_for,
    restarts,
    seed_video,
    verdict,
)
from vframe_testkit.live import LiveServer, live_server

CASES = 600  # about 10 s on two idle cores
SEED = 20240605
CORPUS_SEED_BYTES = 300_000  # the corpus files small enough to decode quickly, one of each folder
DEADLINE_SECONDS = 10
MARGIN_SECONDS = 20  # past the deadline: the kill, a worker's restart and a loaded machine's delays
CLIENTS = 4  # twice the server's two workers, so that a queue forms
DECODER_MUTANTS = 10  # of each allowed decoder's seed (vframe_testkit.codecseeds): 350 in all, some 4 s on idle cores


def summary(answers: list[Answer], restarted: dict[str, float], seconds: float) -> str:
    """What the run saw, for the test's output: statuses, the error messages (which tell a crash,
    a deadline, a memory kill and an unforeseen exception apart), worker restarts, the slowest."""
    statuses = Counter(str(answer.status) for answer in answers)
    messages = Counter(f"{a.status} {error_message(a)}" for a in answers if a.status not in (None, 200))
    slowest = max(answers, key=lambda answer: answer.seconds)
    return (
        f"fuzz: {len(answers)} mutants in {seconds:.1f} s; statuses {dict(sorted(statuses.items()))}; "
        f"worker restarts {restarted}\n"
        + "".join(f"  {count:4d} x {message}\n" for message, count in messages.most_common())
        + f"slowest: {slowest.seconds:.2f} s, {slowest.request.file_name}?{slowest.request.spec}"
    )


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Request], synth.SynthVideo]:
    """The mutants on disk, the request for each, and the undamaged seed (pristine.mp4) checked after."""
    made = make_seed_videos(tmp_path_factory.mktemp("fuzz-seeds"))
    seeds = {name: seed.path.read_bytes() for name, seed in made.items()}
    seeds |= {name: path.read_bytes() for name, path in corpus_seed_videos(VIDEOS, CORPUS_SEED_BYTES).items()}
    folder = tmp_path_factory.mktemp("fuzz-mutants")
    requests = []
    for damaged in mutants(seeds, CASES, SEED):
        (folder / damaged.file_name).write_bytes(damaged.data)
        requests.append(request_for(damaged))
    (folder / "pristine.mp4").write_bytes(seeds[PRISTINE])
    return folder, requests, made[PRISTINE]


def test_damaged_videos_get_documented_answers_in_time_and_the_server_survives(
    fuzz_folder: tuple[Path, list[Request], synth.SynthVideo], request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, requests, pristine = fuzz_folder
    assert len({r.file_name for r in requests}) > CASES * 0.95  # (a few names may repeat)
    with live_server(folder, "--deadline-seconds", str(DEADLINE_SECONDS), "--workers", "2") as server:
        pid = server.process.pid
        started = time.monotonic()
        timeout = httpx.Timeout(DEADLINE_SECONDS + MARGIN_SECONDS)
        with httpx.Client(base_url=server.url, timeout=timeout) as client, ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda r: ask(client, r), requests))
        report = summary(answers, restarts(server), time.monotonic() - started)
        request.node.add_report_section("call", "fuzz", report)  # shown with -rP, and under xdist
        with capsys.disabled():
            print("\n" + report)
        problems = [f"{a.request.file_name}?{a.request.spec}: {kind}: {why}"
                    for a in answers for kind, why in [verdict(a, folder)] if kind != "ok"]
        assert not problems, f"{len(problems)} bad answers (the mutants are in {folder}):\n" + "\n".join(problems)

        assert server.process.poll() is None and server.process.pid == pid
        assert server.worker_pids(), "the server process no longer has its decode workers"
        assert server.wait_ready(timeout=60)["status"] == "ok"
        assert pristine_problem(server, "pristine.mp4", pristine, Fraction(6, 5)) == ""


def test_fast_mode_in_avi_times_keyframes_like_exact_mode(tmp_path: Path) -> None:
    """API.md: fast is the keyframe at or before the offset, and X-Vframe-Time says which frame it
    was, in the same times as exact mode (here frame k at k/24 s, a keyframe every 12 frames)."""
    avi = make_h264_avi(tmp_path / "h264_bframes.avi")
    for offset, keyframe in (("0", 0), ("0.46", 0), ("0.5", 12), ("1.2", 24)):
        fast = vframe.grab(avi.path, f"vframe/png/offset/{offset}/mode/fast")
        exact = vframe.grab(avi.path, f"vframe/png/offset/{keyframe / 24}")
        assert frame_index(exact.data) == keyframe and exact.time == avi.times[keyframe]
        assert (frame_index(fast.data), fast.time_header) == (keyframe, exact.time_header), offset


def test_a_damaged_timestamp_never_gives_a_time_before_the_start(tmp_path: Path) -> None:
    """Found by `make fuzz`: a chunk of an FLV repeated gave a keyframe stamped near -2**63 ms, and
    X-Vframe-Time read -9223372032559808.000. A frame is never shown before the video starts."""
    source = video("10_flv/deb-sage__example.flv")
    name = "10_flv/deb-sage__example.flv~duplicate_chunk~383455458"
    damaged = mutant({"10_flv/deb-sage__example.flv": source.read_bytes()}, name)
    path = tmp_path / "damaged.flv"
    path.write_bytes(damaged.data)
    result = vframe.grab(path, "vframe/jpeg/offset/1.538/w/64/h/48/mode/fast")
    assert result.time >= 0 and result.time_header == "0.000"


def test_a_start_time_near_the_int64_limit_reads_from_the_start(tmp_path: Path) -> None:
    """Found by `make fuzz`: a fragmented MP4 whose damaged header starts the stream at -2**63 + 7508
    ticks made the step back after a seek ask FFmpeg for a time below -2**63 (an OverflowError, 599
    "The decoder failed"). Such a seek is not asked for: the video is read from the start."""
    moov_end = seed_video(tmp_path / "moov_end.mp4", "libx264", bframes=3)
    fragmented = synth.remux(moov_end.path, tmp_path / "h264_fragmented.mp4",
                             {"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    damaged = mutant({"h264_fragmented.mp4": fragmented.read_bytes()}, "h264_fragmented.mp4~mp4_header~3423925646")
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damaged.data)
    for offset in ("0", "0.5", "1000"):
        result = vframe.grab(path, f"vframe/png/offset/{offset}/w/33/h/17")
        assert (result.width, result.height) == (33, 17) and result.time >= 0


# -- every decoder the default allows ---------------------------------------------------------


@pytest.fixture(scope="module")
def codec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """One `vframe serve` with the default codec policy over a folder the tests below fill."""
    folder = tmp_path_factory.mktemp("codec-mutants")
    with live_server(folder, "--deadline-seconds", str(DEADLINE_SECONDS), "--workers", "2") as server:
        yield server, folder


@pytest.mark.parametrize("decoder", sorted(DEFAULT_DECODERS))
def test_every_allowed_decoder_is_fuzzed(decoder: str, codec_server: tuple[LiveServer, Path]) -> None:
    """Each decoder the default policy lets run gets its seed: the undamaged seed gives its exact
    frame over HTTP, decoded by that very decoder, and its mutants get documented answers in time.
    A decoder added to the default without a seed (or a stated reason it cannot have one) fails here."""
    if decoder in codecseeds.UNSEEDED:
        pytest.skip(f"no seed for {decoder}: {codecseeds.UNSEEDED[decoder]}")
    assert decoder in codecseeds.SEEDS, (
        f"the default codec policy allows {decoder}, which has no seed video: add one to vframe_testkit.codecseeds "
        "(or say in its UNSEEDED why it cannot have one)")
    server, folder = codec_server
    seed = codecseeds.make(decoder, folder / "seeds", VIDEOS)
    if seed is None:
        pytest.skip(NO_CORPUS)
    assert vframe.probe(seed)["decoder"] == decoder
    key = f"{decoder}-{seed.name}"
    (folder / key).write_bytes(seed.read_bytes())
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(DEADLINE_SECONDS + MARGIN_SECONDS)) as client:
        if isinstance(codecseeds.SEEDS[decoder], codecseeds.Made):
            times = codecseeds.seed_times(decoder)
            pristine = client.get(f"/{key}?vframe/png/offset/{float(times[5] + times[1] / 2):.3f}")  # mid frame 5
            assert pristine.status_code == 200, pristine.text
            assert frame_index(pristine.content) == 5
            assert abs(float(pristine.headers["x-vframe-time"]) - float(times[5])) <= 0.001
        else:
            assert client.get(f"/{key}?vframe/png/offset/1").status_code == 200, "the corpus seed"
        requests = []
        for damaged in mutants({key: seed.read_bytes()}, DECODER_MUTANTS, SEED):
            (folder / damaged.file_name).write_bytes(damaged.data)
            requests.append(request_for(damaged))
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda r: ask(client, r), requests))
    problems = [f"{a.request.file_name}?{a.request.spec}: {kind}: {why}"
                for a in answers for kind, why in [verdict(a, folder)] if kind != "ok"]
    assert not problems, f"{len(problems)} bad answers (the mutants are in {folder}):\n" + "\n".join(problems)
    assert server.process.poll() is None
