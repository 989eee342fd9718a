"""The page in a real browser: Debian's chromium through chromedriver (Selenium), against a live
`vframe serve` over the demo folder with the page on. A person's steps: pick a video, move the
offset (typed, then with the slider's arrow keys), change the format, the size, the fit and its
pad colour; each frame is checked from the DOM (X-Vframe-Time, size, bytes) and the image's
natural size, and the copied URL, fetched with curl, gives the bytes the browser shows. The
animated preview (webp, then gif from the offset) and the poster load. Hovering the timeline shows the
storyboard tile for that moment (its painted index read back from the screen). A screenshot of
each demo clip (landscape, portrait rotated, anamorphic) is saved in the run's temporary folder
and copied to VFRAME_UI_SCREENS (default /work/ui-screens, when /work exists). With signing on,
the page's URLs are signed by the server and answered.

One browser for the module; it and every process it started are killed when the module ends,
whatever happened (vframe_testkit.browser)."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from vframe_testkit import browser, demo
from vframe_testkit.browser import navigate, wait_for
from vframe_testkit.live import LiveServer, live_server

STORYBOARD = "vsample/vtt/frames/30/s/256x"  # what the page asks for of a landscape video (ui.js)
WAIT = 20  # seconds: a loaded machine, a cold decode worker

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browser.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(demo_folder: Path) -> Iterator[LiveServer]:
    with live_server(demo_folder, "--workers", "2", env={"VFRAME_UI": "1"}) as live:
        yield live


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-screens")


def by_id(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def text(driver: Any, name: str) -> str:
    return str(by_id(driver, name).text)


def open_page(driver: Any, server: LiveServer) -> None:
    navigate(driver, server.url + "/-/ui/")
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"), WAIT, "the page's start")


def choose(driver: Any, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'button.video[data-key="{key}"]').click()
    wait_for(lambda: by_id(driver, "facts").text, WAIT, "the probe facts")


def frame_loaded(driver: Any, spec: str) -> dict[str, Any]:
    """Wait for the frame of `spec` to be shown; what the page says of it and the image's natural size."""
    def shown() -> dict[str, Any] | None:
        state = driver.execute_script(
            "const img = document.getElementById('frame');"
            "return {state: img.dataset.state, url: img.dataset.url || '', width: img.naturalWidth,"
            " height: img.naturalHeight, time: document.getElementById('frame-time').textContent,"
            " size: document.getElementById('frame-size').textContent,"
            " bytes: document.getElementById('frame-bytes').textContent,"
            " ms: document.getElementById('frame-ms').textContent,"
            " copy: document.getElementById('frame-url').value,"
            " error: document.getElementById('frame-error').textContent};")
        done = state["state"] in ("loaded", "failed") and state["url"].split("&e=")[0].endswith("?" + spec)
        return state if done else None

    state = wait_for(shown, WAIT, f"the frame {spec}")
    assert state["state"] == "loaded", state
    return state


def shown_bytes(driver: Any) -> bytes:
    """The bytes of the image the page shows (the blob it made the image from)."""
    encoded = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.getElementById('frame').blob.arrayBuffer().then(buffer => {"
        " let text = ''; for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);"
        " done(btoa(text)); }).catch(error => done('error: ' + error));")
    assert not encoded.startswith("error: "), encoded
    return base64.b64decode(encoded)


def curl(url: str, folder: Path) -> bytes:
    """`url` fetched with the curl binary (httpx where there is none)."""
    if shutil.which("curl") is None:
        return httpx.get(url, timeout=60).content
    out = folder / "curl.out"
    subprocess.run(["curl", "-sSf", "-o", str(out), url], check=True, timeout=60)
    return out.read_bytes()


def set_field(driver: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = by_id(driver, name)
    field.clear()
    field.send_keys(value, Keys.TAB)  # the change event, as a person leaving the field


def test_pick_a_video_move_the_offset_change_format_and_size(driver: Any, server: LiveServer,
                                                              tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    open_page(driver, server)
    keys = [button.get_attribute("data-key") for button in driver.find_elements(By.CSS_SELECTOR, "button.video")]
    assert keys == sorted(clip.name for clip in demo.CLIPS)
    choose(driver, "demo.mp4")
    facts = {dd.get_attribute("data-fact"): dd.text for dd in driver.find_elements(By.CSS_SELECTOR, "#facts dd")}
    assert facts["Display size"] == "1280×720" and facts["Duration"] == "10 s" and facts["Frame rate"] == "24 fps"
    first = frame_loaded(driver, "vframe/jpg/offset/0")
    assert (first["width"], first["height"], first["size"], first["time"]) == (1280, 720, "1280×720", "0.000")
    assert first["ms"].endswith(" ms") and int(first["bytes"]) == len(shown_bytes(driver))

    poster = httpx.get(server.url + "/demo.mp4?vframe/jpg/offset/auto/w/320", timeout=60)
    wait_for(lambda: text(driver, "poster-time") == poster.headers["x-vframe-time"], WAIT, "the poster")
    assert driver.execute_script("return document.getElementById('poster').naturalWidth") == 320

    set_field(driver, "offset", "7")
    at7 = frame_loaded(driver, "vframe/jpg/offset/7")
    assert at7["time"] == "7.000"
    rgb = np.asarray(Image.open(io.BytesIO(shown_bytes(driver))).convert("RGB"))
    assert demo.read_clock(rgb, (1280, 720)) == ("00:07.000", "168")

    slider = by_id(driver, "offset-slider")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)  # three frames on
    stepped = frame_loaded(driver, "vframe/jpg/offset/7.125")
    assert stepped["time"] == "7.125" and by_id(driver, "offset").get_attribute("value") == "7.125"
    assert demo.read_corner_index(np.asarray(Image.open(io.BytesIO(shown_bytes(driver))).convert("RGB")),
                                  (1280, 720)) == 171
    wait_for(lambda: abs(driver.execute_script("return document.getElementById('player').currentTime") - 7.125)
             < 0.05, WAIT, "the player following the slider")

    Select(by_id(driver, "format")).select_by_value("png")
    png = frame_loaded(driver, "vframe/png/offset/7.125")
    assert shown_bytes(driver)[:8] == b"\x89PNG\r\n\x1a\n" and png["time"] == "7.125"

    set_field(driver, "w", "480")
    set_field(driver, "h", "360")
    sized = frame_loaded(driver, "vframe/png/offset/7.125/w/480/h/360")
    assert (sized["width"], sized["height"], sized["size"]) == (480, 360, "480×360")

    Select(by_id(driver, "format")).select_by_value("webp")
    Select(by_id(driver, "mode")).select_by_value("fast")
    fast = frame_loaded(driver, "vframe/webp/offset/7.125/w/480/h/360/mode/fast")
    assert fast["time"] == "6.000"  # the keyframe before (one every 2 s)
    by_id(driver, "copy").click()
    wait_for(lambda: text(driver, "copy-status") == "Copied.", WAIT, "the copy")
    assert fast["copy"] == server.url + "/demo.mp4?vframe/webp/offset/7.125/w/480/h/360/mode/fast"
    fetched = curl(fast["copy"], tmp_path)
    assert fetched == shown_bytes(driver) and fetched[8:12] == b"WEBP" and int(fast["bytes"]) == len(fetched)


def test_by_keyboard_on_a_phone_sized_window(driver: Any, server: LiveServer) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.set_window_size(390, 844)
    try:
        open_page(driver, server)
        unlabelled = driver.execute_script(
            "return [...document.querySelectorAll('input, select')].filter(e => !e.labels.length).map(e => e.id)")
        assert unlabelled == []
        ActionChains(driver).send_keys(Keys.TAB).perform()  # the first control is the first video
        focused = driver.switch_to.active_element
        assert focused.get_attribute("data-key") == "demo.mp4"
        focused.send_keys(Keys.ENTER)
        wait_for(lambda: by_id(driver, "facts").text, WAIT, "the probe facts")
        frame_loaded(driver, "vframe/jpg/offset/0")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone's screen"
        assert driver.execute_script("return document.getElementById('frame').getBoundingClientRect().right") <= 390
    finally:
        driver.set_window_size(1280, 1000)
def test_fit_and_the_pad_colour(driver: Any, server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(driver, server)
    choose(driver, "demo.mp4")
    frame_loaded(driver, "vframe/jpg/offset/0")
    assert by_id(driver, "color").get_attribute("disabled") is not None  # only with fit/pad
    set_field(driver, "offset", "2")
    set_field(driver, "w", "400")
    set_field(driver, "h", "400")
    Select(by_id(driver, "format")).select_by_value("png")
    for fit, size in (("contain", (400, 225)), ("cover", (400, 400)), ("pad", (400, 400))):
        Select(by_id(driver, "fit")).select_by_value(fit)
        state = frame_loaded(driver, f"vframe/png/offset/2/w/400/h/400/fit/{fit}")
        assert (state["width"], state["height"]) == size and state["time"] == "2.000", (fit, state)
    driver.execute_script(
        "const c = document.getElementById('color'); c.value = '#ff0000'; c.dispatchEvent(new Event('change'));")
    state = frame_loaded(driver, "vframe/png/offset/2/w/400/h/400/fit/pad/color/ff0000")
    rgb = np.asarray(Image.open(io.BytesIO(shown_bytes(driver))).convert("RGB"))
    assert rgb.shape == (400, 400, 3) and tuple(rgb[5, 200]) == (255, 0, 0) and tuple(rgb[-5, 200]) == (255, 0, 0)
    assert demo.read_corner_index(rgb[87:312], (1280, 720)) == 48  # the picture between the bands: frame 48
    assert curl(state["copy"], tmp_path) == shown_bytes(driver)


def test_the_animated_preview(driver: Any, server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(driver, server)
    choose(driver, "demo.mp4")

    def preview() -> dict[str, Any] | None:
        shown = driver.execute_script(
            "const img = document.getElementById('preview'); return {url: img.dataset.url || '',"
            " width: img.naturalWidth, frames: document.getElementById('preview-frames').textContent};")
        return shown if shown["frames"].isdigit() else None

    first = wait_for(preview, WAIT, "the animated preview")
    assert first["url"].endswith("?vpreview/webp/ss/0/t/3/w/320") and first["frames"] == "30"
    assert first["width"] == 320
    set_field(driver, "offset", "7")
    frame_loaded(driver, "vframe/jpg/offset/7")
    Select(by_id(driver, "preview-format")).select_by_value("gif")
    wait_for(lambda: (shown := preview()) and shown["url"].endswith("?vpreview/gif/ss/0/t/3/w/320"), WAIT, "gif")
    by_id(driver, "preview-here").click()
    moved = wait_for(lambda: (shown := preview()) and shown["url"].endswith("?vpreview/gif/ss/7/t/3/w/320") and shown,
                     WAIT, "the preview from the offset")
    with Image.open(io.BytesIO(curl(moved["url"], tmp_path))) as gif:
        assert gif.format == "GIF" and gif.n_frames == 30 and gif.size == (320, 180)
        gif.seek(0)
        assert demo.read_corner_index(np.asarray(gif.convert("RGB")), (1280, 720)) == 168


def test_hovering_the_timeline_shows_the_storyboard_tile(driver: Any, server: LiveServer) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(driver, server)
    choose(driver, "demo.mp4")
    vtt = httpx.get(f"{server.url}/demo.mp4?{STORYBOARD}", timeout=60).text
    cues = [block.splitlines() for block in vtt.split("\n\n") if "-->" in block]
    twin = STORYBOARD.replace("vsample/vtt/", "vsample/json/")
    tiles = httpx.get(f"{server.url}/demo.mp4?{twin}", timeout=60).json()["tiles"]
    wait_for(lambda: driver.execute_script("return document.getElementById('timeline').getBoundingClientRect().width"),
             WAIT, "the timeline")
    timeline = by_id(driver, "timeline")
    width = timeline.size["width"]
    for fraction in (0.1, 0.52, 0.9):
        # Selenium 4 offsets count from the element's centre.
        ActionChains(driver).move_to_element_with_offset(timeline, round((fraction - 0.5) * width), 0).perform()
        preview = wait_for(lambda: driver.execute_script(
            "const p = document.getElementById('scrub'); return p.hidden ? null : {...p.dataset};"), WAIT,
            "the storyboard preview")
        time = float(preview["time"])
        assert abs(time - fraction * 10) < 0.2, (time, fraction)
        cue = next(lines for lines in cues if _start(lines) <= time < _end(lines))
        x, y, w, h = cue[1].split("#xywh=")[1].split(",")
        assert (preview["x"], preview["y"], preview["w"], preview["h"]) == (x, y, w, h)
        assert float(preview["start"]) == _start(cue)
        tile_facts = next(t for t in tiles if (str(t["x"]), str(t["y"])) == (x, y) and t["page"] == 0)
        index = round(tile_facts["time"] * demo.FPS)  # the frame the tile shows, as the JSON twin says
        tile = by_id(driver, "scrub-tile")

        def painted(tile: Any = tile) -> int | None:
            rgb = np.asarray(Image.open(io.BytesIO(tile.screenshot_as_png)).convert("RGB"))
            try:
                return demo.read_corner_index(rgb, (1280, 720)) + 1  # +1: frame 0 is a true value too
            except ValueError:  # the sheet is still loading
                return None

        assert wait_for(painted, WAIT, "the tile's picture") - 1 == index
    ActionChains(driver).move_by_offset(0, -200).perform()
    wait_for(lambda: not by_id(driver, "scrub").is_displayed(), WAIT, "the preview hiding")


def _seconds(text: str) -> float:
    hours, minutes, seconds = text.strip().split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _start(cue: list[str]) -> float:
    return _seconds(cue[0].split("-->")[0])


def _end(cue: list[str]) -> float:
    return _seconds(cue[0].split("-->")[1])


@pytest.mark.parametrize(("name", "display", "facts"), [
    ("demo.mp4", (1280, 720), {"Rotation": "0°", "Sample aspect": "1:1"}),
    ("portrait.mp4", (360, 640), {"Rotation": "270°", "Coded size": "640×360"}),
    ("pal-anamorphic.mp4", (1024, 576), {"Sample aspect": "64:45", "Coded size": "720×576"}),
])
def test_a_screenshot_of_each_demo_clip(driver: Any, server: LiveServer, screens: Path, name: str,
                                        display: tuple[int, int], facts: dict[str, str]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(driver, server)
    choose(driver, name)
    shown = {dd.get_attribute("data-fact"): dd.text for dd in driver.find_elements(By.CSS_SELECTOR, "#facts dd")}
    assert shown["Display size"] == f"{display[0]}×{display[1]}" and facts.items() <= shown.items()
    set_field(driver, "offset", "3")
    state = frame_loaded(driver, "vframe/jpg/offset/3")
    assert (state["width"], state["height"]) == display
    rgb = np.asarray(Image.open(io.BytesIO(shown_bytes(driver))).convert("RGB"))
    assert demo.read_clock(rgb, display) == ("00:03.000", "072")  # upright and unsqueezed: the digits read
    wait_for(lambda: text(driver, "poster-time") not in ("", "…"), WAIT, "the poster")
    wait_for(lambda: driver.execute_script("return document.getElementById('poster').complete"), WAIT, "the poster")
    timeline = by_id(driver, "timeline")
    ActionChains(driver).move_to_element_with_offset(timeline, round(0.2 * timeline.size["width"]), 0).perform()
    wait_for(lambda: by_id(driver, "scrub").is_displayed(), WAIT, "the storyboard preview")
    tile = driver.execute_script("return {...document.getElementById('scrub').dataset}")
    width, height = int(tile["w"]), int(tile["h"])
    assert max(width, height) == 256 and abs(width / height - display[0] / display[1]) < 0.02  # the tile's aspect
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height) + 120, 800), 2400))
    try:
        ActionChains(driver).move_to_element_with_offset(timeline, round(0.2 * timeline.size["width"]), 0).perform()
        path = screens / f"ui-{name.removesuffix('.mp4')}.png"
        assert driver.save_screenshot(str(path))
        with Image.open(path) as image:
            assert image.width == 1280 and image.height >= 800
    finally:
        driver.set_window_size(1280, 1000)
    target = Path(os.environ.get("VFRAME_UI_SCREENS", "/work/ui-screens"))
    if target.parent.is_dir():
        target.mkdir(exist_ok=True)
        shutil.copy(path, target / path.name)


def test_with_signing_on_the_page_uses_signed_urls(driver: Any, demo_folder: Path, tmp_path: Path) -> None:
    with live_server(demo_folder, "--workers", "1", "--signing-keys", "ak1:sk1", env={"VFRAME_UI": "1"}) as signed:
        open_page(driver, signed)
        assert "signing is on" in text(driver, "source-info")
        choose(driver, "portrait.mp4")
        state = frame_loaded(driver, "vframe/jpg/offset/0")
        assert "&token=ak1:" in state["copy"] and by_id(driver, "signed-note").is_displayed()
        assert (state["width"], state["height"]) == (360, 640)
        assert curl(state["copy"], tmp_path) == shown_bytes(driver)
        unsigned = httpx.get(signed.url + "/portrait.mp4?vframe/jpg/offset/0", timeout=30)
        assert unsigned.status_code == 403
        wait_for(lambda: driver.execute_script("return document.getElementById('player').readyState >= 1"), WAIT,
                 "the signed video's metadata in the player")
