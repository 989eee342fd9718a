"""A real nginx for the tests: Debian's, run with the project's own deploy/nginx.conf, only the lines
marked "(test: ...)" substituted (its port, the replicas' ports on 127.0.0.1, a temporary folder for
its pid, temporary files and cache). Started in its own process group on a free port, killed with
the group when the block ends. `nginx_binary()` is None when nginx is not installed (`make test`
installs it)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vframe_testkit.live import ROOT
from vframe_testkit.s3server import free_port

CONF = ROOT / "deploy" / "nginx.conf"
NOT_INSTALLED = "Debian's nginx is not installed (make test installs it with apt-get when run as root)"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None)


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.folder / "nginx.log"
        return path.read_text(errors="replace") if path.exists() else ""


def configuration(replicas: Sequence[int], port: int, folder: Path) -> str:
    """deploy/nginx.conf with the marked lines pointed at `replicas` (ports), `port` and `folder`."""
    text = CONF.read_text()
    replica_lines = [line for line in text.splitlines() if "(test: replica)" in line]
    if len(replica_lines) < len(replicas):
        raise ValueError(f"deploy/nginx.conf names {len(replica_lines)} replicas, not {len(replicas)}")
    for line, replica in zip(replica_lines, replicas, strict=False):
        text = text.replace(line, re.sub(r"server \S+", f"server 127.0.0.1:{replica}", line), 1)
    for line in replica_lines[len(replicas):]:
        text = text.replace(line + "\n", "", 1)
    text = re.sub(r"listen \d+;(.*\(test: listen\))", rf"listen 127.0.0.1:{port};\1", text)
    text = re.sub(r"pid \S+;(.*\(test: pid\))", rf"pid {folder}/nginx.pid;\1", text)
    return text.replace("/var/cache/nginx", str(folder))


@contextmanager
def run_nginx(replicas: Sequence[int]) -> Iterator[Nginx]:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError(NOT_INSTALLED)
    with tempfile.TemporaryDirectory(prefix="vframe-nginx-") as name:
        folder = Path(name)
        folder.chmod(0o777)  # nginx's workers run as nobody when the master is root
        port = free_port()
        (folder / "nginx.conf").write_text(configuration(replicas, port, folder))
        log = open(folder / "nginx.log", "ab")  # noqa: SIM115 (closed when the process ends)
        process = subprocess.Popen(
            [binary, "-p", str(folder), "-e", "stderr", "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
            stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        server = Nginx(process, port, folder)
        try:
            end = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"nginx did not start:\n{server.log()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise RuntimeError(f"nginx did not listen on {port}:\n{server.log()}") from None
                    time.sleep(0.05)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()  # the master stops and reaps its workers (killed together, they would be left
                try:                 # to PID 1 as zombies)
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is still there
            except ProcessLookupError:
                pass
            process.wait(10)
