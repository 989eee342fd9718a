"""A real Redis server for the tests: Debian's `redis-server` started in its own process group on
127.0.0.1 and a free port, with no persistence and its data in a temporary folder; spoken to over
Redis' own protocol.

`redis_server` is a session fixture (each xdist worker has its own); a test that clears it calls
`server.flush()`. `run_redis_server()` starts a private one, e.g. to stop it under a running vframe
(`stop()`) and bring it back on the same port (`start_again()`). The fixture skips, saying why, when
redis-server is not installed (`make test` installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vframe_testkit.s3server import free_port

NOT_INSTALLED = "Debian's redis-server is not installed (make test installs it with apt-get when run as root)"


class RedisServer:
    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start_again(self) -> None:
        """Start (or restart, after stop()) the server on its port; returns once it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(NOT_INSTALLED)
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 (closed when the process ends)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder), "--protected-mode", "yes", "--daemonize", "no"]
        self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.process.poll() is not None:
                break
            if self.command(b"PING") == b"+PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.log()}")

    def command(self, *words: bytes) -> bytes | None:
        """One command in RESP; the first line of the reply, or None when nothing answers."""
        request = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(request)
                return connection.recv(65536).split(b"\r\n", 1)[0]
        except OSError:
            return None

    def flush(self) -> None:
        if self.command(b"FLUSHALL") != b"+OK":
            raise RuntimeError("redis-server did not flush")

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with kill=True), and everything in its process group."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


@contextmanager
def run_redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port (a few tries, as another process may take the port first)."""
    with tempfile.TemporaryDirectory(prefix="vframe-redis-") as folder:
        server = None
        for attempt in range(3):
            server = RedisServer(free_port(), Path(folder))
            try:
                server.start_again()
                break
            except RuntimeError:
                if attempt == 2 or shutil.which("redis-server") is None:
                    raise
        assert server is not None
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session", name="redis_server")
def redis_server_fixture() -> Iterator[RedisServer]:
    """The Redis server of the test session (each xdist worker has its own); skips when not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip(NOT_INSTALLED)
    with run_redis_server() as server:
        yield server
