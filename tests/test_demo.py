"""The demo a newcomer sees first: the README's curl example, sent to a server over the demo folder
as `make run` starts it, gives a frame that shows its time and number in digits a person reads
(read back here segment by segment) and its index in the corner; `vframe serve` prints the page's
link beside the curl example; the portrait and anamorphic clips come out upright and unsqueezed."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import vframe
from vframe_testkit import demo
from vframe_testkit.live import ROOT, live_server


def readme_example() -> str:
    """The path and query of the README's first curl command."""
    found = re.search(r"curl -o frame\.jpg 'http://127\.0\.0\.1:8080(/[^']+)'", (ROOT / "README.md").read_text())
    assert found, "the README has no curl example"
    return found.group(1)


def fetch(url: str, folder: Path) -> bytes:
    """The bytes at `url`, with the curl binary when there is one (else httpx)."""
    if shutil.which("curl"):
        out = folder / "frame.jpg"
        subprocess.run(["curl", "-sSf", "-o", str(out), url], check=True, timeout=60)
        return out.read_bytes()
    answer = httpx.get(url, timeout=60)
    answer.raise_for_status()
    return answer.content


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_readme_frame_shows_its_time_and_number(demo_folder: Path, tmp_path: Path) -> None:
    example = readme_example()
    assert example == "/demo.mp4?vframe/jpg/offset/7/w/480/h/360"
    with live_server(demo_folder, "--workers", "1", env={"VFRAME_UI": "1"}) as server:
        assert server.process.stdout is not None
        printed = [server.process.stdout.readline().decode() for _ in range(4)]
        assert f"curl -o frame.jpg '{server.url}{example}'" in printed[0]
        assert f"{server.url}/-/ui/" in printed[3] and "VFRAME_UI=0" in printed[3]
        image = Image.open(io.BytesIO(fetch(server.url + example, tmp_path)))
        assert image.format == "JPEG" and image.size == (480, 360)
        rgb = np.asarray(image.convert("RGB"))
        assert demo.read_corner_index(rgb, (1280, 720)) == 168
        assert demo.read_clock(rgb, (1280, 720)) == ("00:07.000", "168")
        # The reader reads what is there: the frame before shows its own digits.
        before = pixels(httpx.get(server.url + "/demo.mp4?vframe/jpg/offset/6.999/w/480/h/360", timeout=60).content)
        assert demo.read_clock(before, (1280, 720)) == ("00:06.958", "167")
        assert demo.read_corner_index(before, (1280, 720)) == 167


@pytest.mark.parametrize(("name", "offset", "size"), [
    ("portrait.mp4", "3", (360, 640)), ("pal-anamorphic.mp4", "2.5", (1024, 576)), ("demo.mp4", "9.99", (1280, 720)),
])
def test_the_other_clips_come_out_upright_and_unsqueezed(demo_folder: Path, name: str, offset: str,
                                                         size: tuple[int, int]) -> None:
    result = vframe.grab(demo_folder / name, f"vframe/png/offset/{offset}")
    assert (result.width, result.height) == size
    index = int(float(offset) * demo.FPS)
    rgb = pixels(result.data)
    assert demo.read_corner_index(rgb, size) == index
    assert demo.read_clock(rgb, size) == demo.clock_text(index)[:1] + (f"{index:03d}",)
    facts = vframe.probe(demo_folder / name)
    assert (facts["display_width"], facts["display_height"]) == size
    clip = demo.clip_named(name)
    assert (facts["coded_width"], facts["coded_height"]) == clip.coded


def test_make_run_serves_the_demo_with_the_page_on() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "vframe_testkit.demo $(DEMO_DIR)" in makefile
    assert re.search(r"^run:.*\n(\t.*\n)*\tVFRAME_UI=\$\(UI\) \$\(BIN\)/vframe serve", makefile, re.MULTILINE)
