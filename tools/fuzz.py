"""The long mutation fuzz (`make fuzz`): tests/test_fuzz.py's check, for as long as one likes.

Damaged videos (vframe_testkit.fuzzing: seeded mutations of small synthetic videos and of the shared
corpus's small files) are served by a real `vframe serve` this tool starts (vframe_testkit.live), and
each is asked for one frame with a varied spec. New mutants come without end, from the seed printed
at the start, until `--minutes` pass or `--count` mutants are done. Progress is printed as it goes:
cases, statuses, worker restarts, the slowest answers.

Saved in `fuzz-findings/<kind>/` (the mutant's bytes and a .json of the request and the answer):
every answer outside API.md's contract for damaged input (a status other than 200, 413, 415 or 599,
a broken image, a malformed error), every hang (no answer by the deadline plus a margin), every
server death (the mutants in flight when it died; a new server is started and the fuzz goes on),
and a wrong frame from the undamaged video checked at each progress line. These make the exit code
1. A 599 from an exception nobody foresaw (workers.py's fallback) is saved too, under
`unforeseen-599/`, but counts only with `--strict`; Python tracebacks from the server's log are
saved in `server-tracebacks.txt`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import islice
from pathlib import Path

import httpx

from vframe_testkit import synth
from vframe_testkit.fuzzing import (
    PRISTINE,
    UNFORESEEN,
    Answer,
    Mutant,
    ask,
    corpus_seed_videos,
    error_message,
    make_seed_videos,
    mutants,
    pristine_problem,
    request_for,
    restarts,
    verdict,
)
from vframe_testkit.live import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[1]  # the repository
PRISTINE_KEY = "pristine.mp4"
SOFT_KINDS = {"unforeseen-599"}  # saved, but a finding for the exit code only with --strict


@dataclass
class Run:
    """What the fuzz saw so far, over every server it started."""

    findings_dir: Path
    strict: bool
    started: float = field(default_factory=time.monotonic)
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    servers: int = 0
    next_progress: float = 0.0

    def record(self, mutant: Mutant, answer: Answer, root: Path) -> None:
        self.cases += 1
        self.statuses[str(answer.status or "none")] += 1
        if answer.status not in (None, 200):
            self.messages[f"{answer.status} {error_message(answer)}"] += 1
        self.slowest = sorted([*self.slowest, (answer.seconds, f"{mutant.name} {answer.request.spec}")])[-3:]
        kind, detail = verdict(answer, root)
        if kind == "ok" and answer.status == 599 and UNFORESEEN in error_message(answer):
            kind, detail = "unforeseen-599", "an exception workers.py did not foresee (see server-tracebacks.txt)"
        if kind != "ok":
            self.save(kind, mutant, answer, detail)

    def save(self, kind: str, mutant: Mutant, answer: Answer | None, detail: str) -> None:
        """The mutant's bytes and what happened, in findings_dir/kind/."""
        self.findings[kind] += 1
        folder = self.findings_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / mutant.file_name).write_bytes(mutant.data)
        record: dict[str, object] = {"name": mutant.name, "kind": kind, "detail": detail}
        if answer is not None:
            record |= {"request": f"/{answer.request.file_name}?{answer.request.spec}", "status": answer.status,
                       "seconds": round(answer.seconds, 3), "headers": answer.headers,
                       "body": answer.body[:2000].decode("utf-8", "backslashreplace")
                       if answer.status != 200 else f"{len(answer.body)} bytes"}
        (folder / f"{mutant.file_name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"FINDING {kind}: {mutant.name}: {detail.splitlines()[0]}", flush=True)

    def hard_findings(self) -> int:
        return sum(count for kind, count in self.findings.items() if self.strict or kind not in SOFT_KINDS)

    def progress(self, current_server_restarts: dict[str, float] | None = None) -> str:
        """One progress report; the restarts are those of the servers done plus the current one's."""
        elapsed = time.monotonic() - self.started
        restarted = {reason: int(count) for reason, count in (self.restarts + Counter(current_server_restarts)).items()}
        slowest = "\n      ".join(f"{seconds:.2f} s {what}" for seconds, what in reversed(self.slowest))
        return (f"[{elapsed / 60:5.1f} min] {self.cases} cases ({self.cases / max(elapsed, 1e-9):.1f}/s); "
                f"statuses {dict(sorted(self.statuses.items()))}; worker restarts {restarted or 0}; "
                f"servers started {self.servers}; findings {dict(self.findings) or 0}\n    slowest: {slowest}")


def seed_videos(workdir: Path, corpus: Path, max_bytes: int, per_category: int) -> tuple[
        dict[str, bytes], synth.SynthVideo]:
    """Every seed's bytes by name, and the undamaged synthetic video the progress lines check."""
    made = make_seed_videos(workdir)
    seeds = {name: video.path.read_bytes() for name, video in made.items()}
    seeds |= {name: path.read_bytes() for name, path in corpus_seed_videos(corpus, max_bytes, per_category).items()}
    return seeds, made[PRISTINE]


def fuzz_one_server(server: LiveServer, run: Run, source: list[Mutant], args: argparse.Namespace,
                    stop_at: float, pristine: synth.SynthVideo) -> bool:
    """Feed mutants to `server` from `source` (consumed) until it is empty, the time is up or the
    server dies; True when it died."""
    root = server.root
    timeout = httpx.Timeout(args.deadline_seconds + args.margin_seconds)
    in_flight: dict[Future[Answer], Mutant] = {}
    with httpx.Client(base_url=server.url, timeout=timeout) as client, ThreadPoolExecutor(args.clients) as pool:
        while True:
            while source and len(in_flight) < args.clients and time.monotonic() < stop_at:
                mutant = source.pop()
                (root / mutant.file_name).write_bytes(mutant.data)
                in_flight[pool.submit(ask, client, request_for(mutant))] = mutant
            if not in_flight:
                return False
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                mutant = in_flight.pop(future)
                answer = future.result()
                if answer.status is None and answer.failure != "hang" and died_now(server):
                    for suspect in [mutant, *in_flight.values()]:
                        run.save("server-death", suspect, answer, f"the server died (exit {server.process.returncode})"
                                 f" with this mutant in flight; its log ends:\n{server.log()[-3000:]}")
                    return True
                run.record(mutant, answer, root)
                (root / mutant.file_name).unlink(missing_ok=True)
            if time.monotonic() >= run.next_progress:
                run.next_progress = time.monotonic() + args.progress_seconds
                check_pristine(server, run, pristine)
                print(run.progress(restarts(server)), flush=True)


def died_now(server: LiveServer) -> bool:
    """Whether the server died: a refused or cut connection may come a moment before its exit."""
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return True


def check_pristine(server: LiveServer, run: Run, pristine: synth.SynthVideo) -> None:
    """The undamaged video still gives its exact frame: damage must not leak into later requests."""
    try:
        why = pristine_problem(server, PRISTINE_KEY, pristine, Fraction(6, 5))
    except httpx.HTTPError as error:
        why = f"no answer: {error!r}"
    if why:
        run.save("pristine", Mutant(f"{PRISTINE}~none~0", b""), None, why)


def save_tracebacks(log: str, findings_dir: Path) -> int:
    """The server log's Python tracebacks, each distinct one once (by its last line), appended to
    server-tracebacks.txt; how many were new."""
    blocks: dict[str, str] = {}
    lines = log.splitlines()
    for start, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = start + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
            end += 1
        block = lines[max(0, start - 1):end + 1]
        blocks.setdefault(block[-1], "\n".join(block))
    if blocks:
        findings_dir.mkdir(parents=True, exist_ok=True)
        with (findings_dir / "server-tracebacks.txt").open("a") as out:
            out.writelines(f"{block}\n\n" for block in blocks.values())
    return len(blocks)


def fuzz(args: argparse.Namespace) -> int:
    run = Run(Path(args.findings), args.strict)
    minutes = args.minutes if args.minutes is not None else (None if args.count is not None else 60.0)
    stop_at = time.monotonic() + minutes * 60 if minutes is not None else float("inf")
    workdir = Path(tempfile.mkdtemp(prefix="vframe-fuzz-"))
    try:
        seeds, pristine = seed_videos(workdir / "seeds", Path(args.corpus), args.corpus_max_bytes, args.per_category)
        print(f"fuzz: seed {args.seed}, {len(seeds)} seed videos, "
              f"{'until ' + str(args.count) + ' cases' if args.count else ''}"
              f"{' or ' if args.count and minutes else ''}{f'{minutes:g} minutes' if minutes else ''}; "
              f"findings go to {run.findings_dir}/", flush=True)
        generator = mutants(seeds, args.count, args.seed)
        served = workdir / "served"
        served.mkdir()
        (served / PRISTINE_KEY).write_bytes(seeds[PRISTINE])
        source: list[Mutant] = []
        run.next_progress = time.monotonic() + args.progress_seconds
        while time.monotonic() < stop_at:
            flags = ["--deadline-seconds", str(args.deadline_seconds), "--workers", str(args.workers)]
            with live_server(served, *flags) as server:
                run.servers += 1
                died = False
                while not died and time.monotonic() < stop_at:
                    source = source or list(islice(generator, 64))[::-1]  # popped from the end: in order
                    if not source:
                        break
                    died = fuzz_one_server(server, run, source, args, stop_at, pristine)
                if not died:
                    check_pristine(server, run, pristine)
                    run.restarts.update(restarts(server))
                if new := save_tracebacks(server.log(), run.findings_dir):
                    print(f"    {new} distinct tracebacks in the server's log: see server-tracebacks.txt")
            if not died:
                break
        print("done: " + run.progress(), flush=True)
        for message, count in run.messages.most_common():
            print(f"  {count:6d} x {message}")
        hard = run.hard_findings()
        print(f"{hard} findings" + (f", saved in {run.findings_dir}/" if run.findings else ""))
        return 1 if hard else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/fuzz.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="how long to fuzz (default 60, or no limit with --count)")
    parser.add_argument("--count", type=int, help="how many mutants to try (default: no limit)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="the mutants' seed (default: the time)")
    parser.add_argument("--findings", default=str(ROOT / "fuzz-findings"), help="where findings are saved")
    corpus = os.environ.get("VFRAME_TEST_VIDEOS", str(ROOT.parent / "shared" / "videos"))  # as tests/conftest.py
    parser.add_argument("--corpus", default=corpus,
                        help="the shared video corpus, whose small files are seeds too (absent: synthetic only)")
    parser.add_argument("--corpus-max-bytes", type=int, default=2_000_000, help="largest corpus file used as a seed")
    parser.add_argument("--per-category", type=int, default=3, help="corpus files used from each of its folders")
    parser.add_argument("--deadline-seconds", type=float, default=10.0, help="the server's deadline")
    parser.add_argument("--margin-seconds", type=float, default=20.0,
                        help="past the deadline, how long an answer may take before it is a hang")
    parser.add_argument("--workers", type=int, default=2, help="the server's decode workers")
    parser.add_argument("--clients", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--progress-seconds", type=float, default=30.0, help="how often to print progress")
    parser.add_argument("--strict", action="store_true", help="count unforeseen-exception 599s as findings")
    return fuzz(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
