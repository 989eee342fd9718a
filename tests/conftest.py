"""Shared fixtures: the shared video corpus (skipped with a reason when absent) and
synthetic videos made with PyAV."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from vframe_testkit import synth
from vframe_testkit.redisserver import redis_server_fixture  # noqa: F401 (a fixture: redis_server)

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = Path(os.environ.get("VFRAME_TEST_VIDEOS", ROOT.parent / "shared" / "videos"))
NO_CORPUS = f"the shared video corpus is not at {VIDEOS} (a clone outside the workplace); CI always has it"


def corpus() -> list[dict[str, Any]]:
    """MANIFEST.json's entries, or [] when the corpus is absent."""
    manifest = VIDEOS / "MANIFEST.json"
    if not manifest.is_file():
        return []
    return sorted(json.loads(manifest.read_text()), key=lambda entry: entry["path"])


def corpus_params(select: Any = lambda entry: True) -> list[Any]:
    """pytest params, one a corpus file (id: its path), or one skipped param when the corpus is absent."""
    entries = [entry for entry in corpus() if select(entry)]
    if not entries:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS), id="no-corpus")]
    return [pytest.param(entry, id=entry["path"]) for entry in entries]


def video(relative: str) -> Path:
    """A corpus file by its path under videos/, skipping the test when the corpus is absent."""
    path = VIDEOS / relative
    if not path.is_file():
        pytest.skip(NO_CORPUS)
    return path


# Synthetic videos: (file name, make_video arguments). Each frame shows its own index.
SYNTHETIC = {
    "h264_bframes.mp4": dict(codec="libx264", frames=60, fps=25, gop=12, bframes=3),
    "h264_vfr.mp4": dict(codec="libx264", frames=50, fps=25, gop=10, bframes=2, vfr=True),
    "h264_start_1.4.ts": dict(codec="libx264", frames=40, fps=25, gop=10, bframes=2, start=Fraction(14, 10)),
    "h264_start_10.mkv": dict(codec="libx264", frames=40, fps=Fraction(30000, 1001), gop=15, bframes=2,
                              start=10),
    "hevc_bframes.mkv": dict(codec="hevc", frames=40, fps=24, gop=12, bframes=3),
    "vp9.webm": dict(codec="libvpx-vp9", frames=40, fps=24, gop=12, bframes=0),
    "av1.mp4": dict(codec="av1", frames=24, fps=24, gop=8, bframes=0, width=160, height=120),
}


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, synth.SynthVideo]:
    folder = tmp_path_factory.mktemp("synthetic")
    return {name: synth.make_video(folder / name, **kwargs) for name, kwargs in SYNTHETIC.items()}


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `make run` serves (vframe_testkit.demo): demo.mp4, portrait.mp4, pal-anamorphic.mp4.
    Made once per run: xdist's workers share it (their temporary folders' parent), under a lock."""
    import fcntl

    from vframe_testkit import demo

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "demo-clips"
    with open(shared / "demo-clips.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".made").exists():
            demo.make_demo(folder)
            (folder / ".made").touch()
    return folder
