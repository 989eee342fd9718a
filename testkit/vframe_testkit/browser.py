"""A real browser for the page's tests: Debian's chromium-headless-shell (Chromium's engine built
without the browser's own UI, for automation), driven through Debian's chromedriver by Selenium
(the driver and the browser come from the same Debian source, so their versions match; nothing is
downloaded, and selenium-manager is never asked for a driver: its path is given). Not the full
`chromium` in its --headless mode: that one still runs the browser's UI unseen, and under the
suite's load its browser process and a renderer of its own UI spun at a full core each for 15
minutes, with the machine's load at 100, until CI's time ran out.

One browser serves a whole test module. chromedriver is started in a session of its own
(start_new_session), and chromium is its child, in its process group: teardown quits the driver,
then SIGKILLs that whole group and any process left in its session, whatever happened before
(a test that failed, a timeout). Page loads and scripts time out in seconds; waits have short
deadlines."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .live import end_by_stdin, processes

# The probe's flags (no background connections: this machine refuses them, many at a time), no
# zygote (the renderers are the browser's own children, in its group and session), no crash
# reporter, a fixed window and scale so that screenshots measure in CSS pixels. Not
# --single-process: Chromium does not support it, and under load its renderer stopped answering
# chromedriver for 30 s at a time. Not --disable-dev-shm-usage: that moves Chromium's shared
# memory from /dev/shm (a tmpfs) to files in /tmp, on disk.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-zygote", "--disable-crash-reporter",
    "--disable-breakpad", "--mute-audio", "--window-size=1280,1000", "--force-device-scale-factor=1",
)
BROWSER = "chromium-headless-shell"
PAGE_LOAD_SECONDS = 30  # a navigation on a machine whose two cores the rest of the suite keeps busy
SCRIPT_SECONDS = 10
QUIT_SECONDS = 10

T = TypeVar("T")


def missing() -> str | None:
    """Why no browser can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for binary, package in ((BROWSER, BROWSER), ("chromedriver", "chromium-driver")):
        if shutil.which(binary) is None:
            return f"{binary} is not installed (Debian's {package}; `make test` installs it as root)"
    return None


def _session_members(session: int) -> list[int]:
    """Every process whose session id is `session`."""
    return [pid for pid, fields in processes() if int(fields[3]) == session]


def _naming(text: str) -> list[int]:
    """Every process whose command line holds `text` (a profile folder of ours: unique)."""
    needle = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_session(leader: int, profile: str = "") -> None:
    """SIGKILL the process group `leader` leads, anything else left in its session and, when
    `profile` is given, any process naming that profile folder (chromium's crash handler starts
    a session of its own)."""
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in _session_members(leader) + (_naming(profile) if profile else []):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# A watchdog in a session of its own: when the test process ends in any way (even os._exit, as
# pytest-timeout's thread method does, with no teardown), its end of the pipe closes and the
# watchdog kills the browser's process group and session.
_WATCHDOG = """
import sys
sys.stdin.buffer.read()
from vframe_testkit.browser import kill_session
kill_session(int(sys.argv[1]), sys.argv[2])
"""


def _watch(leader: int, profile: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(leader), profile], stdin=subprocess.PIPE,
                            start_new_session=True)


STARTS = 2  # a browser that dies while starting on a loaded machine is started once more


@contextmanager
def chromium() -> Iterator[Any]:
    """A Selenium WebDriver on headless chromium, killed with all its processes when the block ends."""
    from selenium.common.exceptions import WebDriverException

    for attempt in range(STARTS):
        try:
            started = _start()
        except (WebDriverException, RuntimeError) as error:
            if attempt == STARTS - 1:
                raise
            print(f"{BROWSER} did not start ({error}); once more")
            continue
        with started as driver:
            yield driver
        return


def _start() -> Any:
    """A started browser, as a context manager that ends it: raises (with everything it started
    killed) when it does not start. The shell is started here, in a session of its own, on a
    free DevTools port with a first blank tab (chromedriver cannot launch the headless shell: it
    waits for a tab the shell opens only when given a URL), and chromedriver attaches to it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vframe-chromium-")
    log_path = Path(profile + ".chromedriver.log")
    ending = _Ending(profile, log_path)
    try:
        port = _free_port()
        with open(profile + ".browser.log", "wb") as browser_log:
            ending.browser = subprocess.Popen(
                [shutil.which(BROWSER) or f"/usr/bin/{BROWSER}", *CHROMIUM_FLAGS, f"--remote-debugging-port={port}",
                 f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=browser_log, stderr=browser_log, start_new_session=True)
        ending.watchdog = _watch(ending.browser.pid, profile)
        _wait_for_devtools(port, ending.browser)
        options = webdriver.ChromeOptions()
        options.debugger_address = f"127.0.0.1:{port}"
        # A navigation returns at DOMContentLoaded: the tests wait for what they need themselves
        # (the page's own ready mark, each image), not for every image and video of the page.
        options.page_load_strategy = "eager"
        ending.service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver", log_output=str(log_path),
                                 popen_kw={"start_new_session": True})
        ending.driver = webdriver.Chrome(service=ending.service, options=options)
        ending.driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
        ending.driver.set_script_timeout(SCRIPT_SECONDS)
    except BaseException:
        print(log_path.read_text(errors="replace")[-2000:] if log_path.exists() else "(no chromedriver log)")
        ending.end()
        raise
    return ending


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_devtools(port: int, browser: subprocess.Popen[bytes]) -> None:
    """Until the browser answers on its DevTools port (RuntimeError if it ends or takes 30 s)."""
    import httpx

    end = time.monotonic() + 30
    while time.monotonic() < end:
        if browser.poll() is not None:
            raise RuntimeError(f"{BROWSER} ended at start (exit {browser.returncode})")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/json/version", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{BROWSER} did not open its DevTools port in 30 s")


class _Ending:
    """The browser of one start, and the one way to end it: quit the driver, then SIGKILL the
    browser's and the driver's groups and sessions, stop the watchdog, remove the profile."""

    def __init__(self, profile: str, log_path: Path) -> None:
        self.profile, self.log_path = profile, log_path
        self.driver: Any = None
        self.service: Any = None
        self.browser: subprocess.Popen[bytes] | None = None
        self.watchdog: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Any:
        return self.driver

    def __exit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        if self.driver is not None:
            quitting = threading.Thread(target=self.driver.quit, daemon=True)
            quitting.start()
            quitting.join(QUIT_SECONDS)
        for process in (getattr(self.service, "process", None), self.browser):
            if process is not None:
                kill_session(process.pid, self.profile)
                try:
                    process.wait(5)
                except Exception:  # noqa: BLE001 (killed already: nothing more to do)
                    pass
        if self.watchdog is not None:
            end_by_stdin(self.watchdog)
        shutil.rmtree(self.profile, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
        Path(self.profile + ".browser.log").unlink(missing_ok=True)


def navigate(driver: Any, url: str) -> None:
    """`driver.get(url)`, tried once more when the renderer missed the navigation's message (it
    happens under load; the browser itself is fine and the second navigation goes through)."""
    from selenium.common.exceptions import TimeoutException

    try:
        driver.get(url)
    except TimeoutException as error:
        print(f"navigating to {url} timed out ({error.msg.splitlines()[0]}); once more")
        driver.get(url)


def wait_for(condition: Callable[[], T | None], seconds: float = 10, what: str = "the page") -> T:
    """The first true value of `condition()`, tried every 50 ms for at most `seconds`."""
    end = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 (an element not there yet: try again)
            last_error = error
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds} s" + (f" (last: {last_error})" if last_error else ""))
