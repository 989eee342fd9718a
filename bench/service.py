"""The machinery of bench.py's service figures: start and stop `vframe serve`, send it requests from
N concurrent clients, run a command per request N at a time, run `wrk`, watch the decode workers'
memory, and count the CPU time all that took. Which frames, and what is printed, is bench.py's business.

It starts the server itself, with settings of its own, and finds its decode workers with the test
kit's process helpers (vframe_testkit.live).

Clients, because Python clients share the machine's cores with the server:

* uncached frames - one `httpx.Client` (keep-alive) per client thread in the bench process. A frame
  takes a worker tens to hundreds of milliseconds to make; the client's ~1 ms does not matter.
* cached hits - `wrk` (Debian's, C, HTTP/1.1 keep-alive), or without it `load_in_processes`: several
  processes (this file run as a script), each keeping its share of the connections open and speaking
  HTTP/1.1 over asyncio streams itself (httpx.AsyncClient spends several ms a request and would
  measure itself).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from vframe_testkit.live import children, command_line, stop
from vframe_testkit.stats import p90

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Response:
    target: str
    status: int
    body: bytes
    latency_ms: float


@dataclass
class Run:
    """One measured run: requests sent by `clients` at a time (or commands run `clients` at a time)."""

    name: str
    clients: int
    requests: int
    wall_s: float
    latencies_ms: list[float]  # of the successful requests
    failures: list[str] = field(default_factory=list)
    cpu_s: float | None = None  # the server and its workers, or the commands; not the clients

    def summary(self) -> dict[str, float]:
        """Successful requests per second of the run's wall time, their median and p90 latency, and
        CPU time per request (NaN: nothing succeeded, or not measured)."""
        ok, nan = self.latencies_ms, float("nan")
        return {
            "clients": self.clients, "requests": self.requests, "failed": len(self.failures), "wall_s": self.wall_s,
            "per_s": len(ok) / self.wall_s, "median_ms": statistics.median(ok) if ok else nan,
            "p90_ms": p90(ok) if ok else nan,
            "cpu_ms_per_request": self.cpu_s * 1000 / self.requests if self.cpu_s is not None else nan,
        }


# -- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT, no trailing slash
    log_path: Path

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/-/healthz", timeout=10).json()  # type: ignore[no-any-return]

    def metric(self, name: str) -> float:
        """One unlabelled sample of /-/metrics; 0 when absent."""
        for line in httpx.get(f"{self.url}/-/metrics", timeout=10).text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == name:
                return float(value)
        return 0.0

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        end, last = time.monotonic() + timeout, {}
        while time.monotonic() < end:
            try:
                last = self.health()
                if last.get("workers_ready") == last.get("workers"):
                    return last
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"vframe serve did not become ready: {last}\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """CPU time of the server, its live children (the decode workers) and its reaped ones."""
        fields = _stat(self.process.pid)
        total = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        for pid in children(self.process.pid):
            child = _stat(pid)
            total += int(child[11]) + int(child[12]) if child else 0
        return total / _TICKS

    def worker_pids(self) -> list[int]:
        """The decode workers: the server's children started by multiprocessing's spawn (not its
        resource tracker)."""
        return [pid for pid in children(self.process.pid) if b"spawn_main" in command_line(pid)]

    def peak_rss_mb(self) -> dict[str, Any]:
        """Peak resident memory (VmHWM) of the server process and of each live decode worker."""
        return {"server": _peak_rss_kb(self.process.pid) / 1024,
                "workers": [_peak_rss_kb(pid) / 1024 for pid in self.worker_pids()]}

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (so field 3, the state, is index 0); [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def _peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def vframe_serve(root: Path, *flags: str) -> Iterator[Server]:
    """`vframe serve --root ROOT --port 0 FLAGS...` (no VFRAME_* variables inherited), ready, until
    the block ends; then SIGTERM (uvicorn's graceful shutdown), SIGKILL if it takes over 20 s.
    Its log goes to a temporary file, deleted after."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    log = tempfile.NamedTemporaryFile(prefix="vframe-bench-serve-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "vframe", "serve", "--root", str(root), "--port", "0", *flags]
    process = subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    server = Server(process, "", Path(log.name))
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode(errors="replace").strip()  # vframe: serving ROOT on URL/
        match = re.search(r" on (http://\S+?)/?$", first)
        if match is None:
            raise RuntimeError(f"vframe serve did not start: {first!r}\n{server.log_tail()}")
        server.url = match.group(1)
        server.wait_ready()
        yield server
    finally:
        stop(process)
        log.close()
        Path(log.name).unlink(missing_ok=True)


# -- uncached: httpx.Client per thread ---------------------------------------------------------


def load_threads(server: Server, name: str, targets: list[str], clients: int) -> tuple[Run, list[Response | None]]:
    """Each target once, `clients` threads at a time, each with its own keep-alive httpx.Client that
    has opened its connection (GET /-/healthz) before the clock starts. The responses are in the
    targets' order (None: no response)."""
    responses: list[Response | None] = [None] * len(targets)
    failures: list[str] = []
    next_index = iter(range(len(targets)))
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client_loop() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.get("/-/healthz")
            ready.wait()
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    response = client.get(targets[index])
                except httpx.HTTPError as error:
                    with lock:
                        failures.append(f"{targets[index]}: {type(error).__name__}: {error}")
                    continue
                latency = (time.perf_counter() - started) * 1000
                responses[index] = Response(targets[index], response.status_code, response.content, latency)

    cpu_before = server.cpu_seconds()
    with ThreadPoolExecutor(clients) as pool:
        running = [pool.submit(client_loop) for _ in range(clients)]
        ready.wait(timeout=60)
        started = time.perf_counter()
        for future in running:
            future.result()
        wall = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    done = [response for response in responses if response is not None]
    failures += [f"{r.target}: {r.status} {r.body[:200]!r}" for r in done if r.status != 200]
    latencies = [r.latency_ms for r in done if r.status == 200]
    return Run(name, clients, len(targets), wall, latencies, failures, cpu), responses


# -- cached hits: several processes of a small asyncio HTTP/1.1 client ------------------------


def load_in_processes(server: Server, name: str, lengths: dict[str, int], requests: int, clients: int,
                      processes: int) -> Run:
    """`requests` GETs cycling over the targets in `lengths` (target -> the body length a good answer
    has), `clients` keep-alive connections in all, spread over `processes` processes that start
    together once each has opened and used its connections."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    targets = sorted(lengths)
    running: list[subprocess.Popen[str]] = []
    try:
        for number in range(processes):
            share = requests // processes + (number < requests % processes)
            job = {"host": host, "port": port, "targets": targets, "lengths": lengths, "requests": share,
                   "connections": clients // processes + (number < clients % processes), "first": number * 997}
            child = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
            assert child.stdin is not None
            child.stdin.write(json.dumps(job) + "\n")
            child.stdin.flush()
            running.append(child)
        for child in running:
            _expect_line(child, "ready")
        cpu_before = server.cpu_seconds()
        for child in running:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [json.loads(_expect_line(child)) for child in running]
        cpu = server.cpu_seconds() - cpu_before
    finally:
        for child in running:
            if child.poll() is None:
                child.kill()
            child.wait()
    wall = max(result["ended"] for result in results) - min(result["started"] for result in results)
    latencies = [latency for result in results for latency in result["latencies_ms"]]
    failures = [failure for result in results for failure in result["failures"]]
    return Run(name, clients, requests, wall, latencies, failures, cpu)


def _expect_line(child: subprocess.Popen[str], wanted: str | None = None) -> str:
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if not line or (wanted is not None and line != wanted):
        raise RuntimeError(f"a client process failed (exit code {child.poll()}): {line!r}")
    return line


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        """One GET on the kept-alive connection (opened when needed): the status and the body."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode("ascii"))
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))  # vframe always sends it
            if headers.get("connection", "").lower() == "close":
                self.close()
            return int(head[0].split(" ", 2)[1]), body
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _client_process(job: dict[str, Any]) -> dict[str, object]:
    targets: list[str] = job["targets"]
    lengths: dict[str, int] = job["lengths"]
    first: int = job["first"]
    connections = [_Connection(job["host"], job["port"]) for _ in range(job["connections"])]
    for number, connection in enumerate(connections):  # connected and used once before the clock starts
        await connection.get(targets[(first + number) % len(targets)])
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")
    latencies: list[float] = []
    failures: list[str] = []
    next_index = iter(range(first, first + job["requests"]))

    async def loop(connection: _Connection) -> None:
        for index in next_index:
            target = targets[index % len(targets)]
            started = time.perf_counter()
            try:
                status, body = await connection.get(target)
            except (OSError, ValueError, KeyError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                failures.append(f"{target}: {type(error).__name__}: {error}")
                continue
            latency = (time.perf_counter() - started) * 1000
            if status != 200 or len(body) != lengths[target]:
                failures.append(f"{target}: {status}, {len(body)} bytes: {body[:200]!r}")
            else:
                latencies.append(latency)

    started = time.monotonic()  # CLOCK_MONOTONIC: comparable between processes
    await asyncio.gather(*(loop(connection) for connection in connections))
    ended = time.monotonic()
    for connection in connections:
        connection.close()
    return {"started": started, "ended": ended, "latencies_ms": latencies, "failures": failures}


# -- the decode workers' memory while a load runs --------------------------------------------------


class WorkerMemory:
    """Samples the peak RSS (VmHWM) of every decode worker of `server` every `interval` seconds from
    `start()` to `stop()`, so that a worker replaced meanwhile still counts: {pid: peak MB}."""

    def __init__(self, server: Server, interval: float = 0.2) -> None:
        self.server, self.interval = server, interval
        self.peaks: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in self.server.worker_pids():
            kb = _peak_rss_kb(pid)
            if kb:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), kb / 1024)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def start(self) -> WorkerMemory:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict[int, float]:
        self._done.set()
        self._thread.join()
        self._sample()
        return dict(self.peaks)


# -- cached hits with wrk ----------------------------------------------------------------------------


@dataclass
class WrkResult:
    threads: int
    connections: int
    seconds: float
    requests: int
    per_s: float
    latency_ms: dict[str, float]  # 50%, 75%, 90%, 99% and mean
    errors: str  # wrk's socket errors and non-2xx/3xx line, "" when none
    output: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, url: str, threads: int, connections: int, seconds: float) -> WrkResult:
    """`wrk -t THREADS -c CONNECTIONS -d SECONDS --latency URL`, its output parsed."""
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    output = done.stdout
    if done.returncode != 0 or "Requests/sec:" not in output:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}\n{output[-1000:]}")
    latency = {"mean": _ms(re.search(r"Latency\s+(\S+)", output).group(1))}  # type: ignore[union-attr]
    for percent, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE):
        latency[f"{percent}%"] = _ms(value)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = "; ".join(line.strip() for line in output.splitlines()
                       if line.strip().startswith(("Socket errors", "Non-2xx")))
    return WrkResult(threads, connections, seconds, requests, per_s, latency, errors, output)


# -- the command line, one process per request --------------------------------------------------


def run_commands(name: str, commands: list[list[str]], parallel: int) -> Run:
    """Each command once, `parallel` at a time, each timed from its start to its exit; CPU time is
    the children's (RUSAGE_CHILDREN: only these commands are reaped meanwhile)."""

    def run(command: list[str]) -> tuple[float, str | None]:
        started = time.perf_counter()
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        latency = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            return latency, f"exit code {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}"
        return latency, None

    cpu_before = _children_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(run, commands))
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    failures = [failure for _, failure in results if failure is not None]
    latencies = [latency for latency, failure in results if failure is None]
    return Run(name, parallel, len(commands), wall, latencies, failures, cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":  # a client process of load_in_processes: a job line, "ready", "go", a result line
    result = asyncio.run(_client_process(json.loads(sys.stdin.readline())))
    print(json.dumps(result), flush=True)
