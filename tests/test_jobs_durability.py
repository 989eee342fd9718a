"""Jobs survive the death of whatever runs them, proved by killing it (SIGKILL of the process
group: no clean shutdown). The embedded queue with `vframe serve` killed and started again; Redis
with two `vframe worker` processes, one killed mid-job; and commands no decode worker can do (a
video with nothing decodable; a sheet over the worker's memory, which costs the worker) fail their
item (code 3, the synchronous 599 sentence) after their retries while the rest go on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from vframe.pipeline import grab, sample
from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.jobs import (
    ACCESS_KEY,
    SECRET_KEY,
    Process,
    Qiniu,
    b64,
    job_record,
    job_states,
    saveas,
    serve,
    undecodable_copy,
    wait_for,
    worker,
)
from vframe_testkit.redisserver import RedisServer

POSTER = "vframe/jpg/offset/1.5/w/160/h/90"
FRAMES = "vsample/jpg/interval/0.1/s/160x90"
LEASE = "1.5"  # seconds: a killed consumer's job runs again within about twice this


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jobs-durable")
    synth.make_video(folder / "v.mp4", frames=50, fps=25, gop=10, width=320, height=180)
    undecodable_copy(folder / "v.mp4", folder / "broken.mp4")
    return folder


def expected(root: Path) -> tuple[bytes, list[bytes]]:
    return grab(root / "v.mp4", POSTER).data, [result.data for _, result in sample(root / "v.mp4", FRAMES)]


def job_fops(name: str) -> list[str]:
    return [f"{FRAMES}/savePattern/{b64(f'out/{name}/f-$(count).jpg')}", POSTER + saveas(f"out/{name}/poster.jpg")]


def assert_outputs(root: Path, names: list[str]) -> None:
    """Every job's files complete and byte-exact; no other file under a final name."""
    poster, frames = expected(root)
    wanted = {f"out/{name}/poster.jpg" for name in names}
    wanted |= {f"out/{name}/f-{index:06d}.jpg" for name in names for index in range(len(frames))}
    found = {str(path.relative_to(root)) for name in names for path in (root / "out" / name).rglob("*")
             if path.is_file()}
    visible = {key for key in found if not key.rsplit("/", 1)[-1].startswith(".")}
    assert visible == wanted, sorted(visible ^ wanted)[:10]
    assert all(key.endswith(".part") for key in found - visible), found - visible  # a killed write's temporary
    for name in names:
        assert (root / f"out/{name}/poster.jpg").read_bytes() == poster
        assert [(root / f"out/{name}/f-{index:06d}.jpg").read_bytes() for index in range(len(frames))] == frames


def test_embedded_queue_survives_sigkill_of_serve(root: Path, tmp_path: Path) -> None:
    env = {"VFRAME_STATE_DIR": str(tmp_path / "state"), "VFRAME_JOB_LEASE_SECONDS": LEASE}
    flags = ("--workers", "1", "--decoder-threads", "1", "--job-workers", "2")
    names = [f"e{index:02d}" for index in range(20)]
    with serve(root, *flags, env=env) as first:
        client = Qiniu(first.url)
        ids = {name: client.submit("v.mp4", job_fops(name)) for name in names}
        wait_for(lambda: any(client.status(job_id)["code"] == 2 for job_id in ids.values()), "a running job")
        first.kill()
    running = [job_id for job_id, state in job_states(env).items() if state == "running"]
    assert running  # what the killed server was doing, as its store says
    with serve(root, *flags, env=env) as second:
        client = Qiniu(second.url)
        statuses = {name: client.wait(job_id, timeout=60) for name, job_id in ids.items()}
    assert {name: status["code"] for name, status in statuses.items()} == dict.fromkeys(names, 0)
    assert_outputs(root, names)
    interrupted = job_record(env, running[0])
    assert interrupted["runs"] >= 2, interrupted  # begun by the killed server, done by the new one


def whose(workers: list[Process], job_id: str) -> Process | None:
    return next((process for process in workers if f"job {job_id} running" in process.log()), None)


def test_redis_workers_one_killed_mid_job_and_a_failing_command(root: Path, redis_server: RedisServer) -> None:
    redis_server.flush()
    env = {"VFRAME_QUEUE": redis_server.url, "VFRAME_JOB_LEASE_SECONDS": LEASE, "VFRAME_JOB_RETRIES": "1"}
    decode = ("--root", str(root), "--workers", "1", "--decoder-threads", "1", "--job-workers", "1")
    with serve(root, "--workers", "1", "--job-workers", "0", env=env) as front, \
            worker(*decode, env=env) as one, worker(*decode, env=env) as two:
        client = Qiniu(front.url)
        long_names = [f"r-long{index}" for index in range(4)]  # 80 frames and 4 posters: long enough to kill
        long_job = client.submit("v.mp4", [fop for name in long_names for fop in job_fops(name)])
        wait_for(lambda: whose([one, two], long_job) is not None, "a worker running the job")
        victim = whose([one, two], long_job)
        assert victim is not None
        survivor = two if victim is one else one
        assert client.status(long_job)["code"] == 2
        victim.kill()
        broken = client.submit("broken.mp4", [POSTER + saveas("out/broken.jpg")])
        after = client.submit("v.mp4", job_fops("r-after"))
        status = client.wait(long_job, timeout=60)
        assert status["code"] == 0, status
        assert f"job {long_job} running, run 2" in survivor.log()
        failed = client.wait(broken, timeout=60)
        assert failed["code"] == 3 and failed["items"][0]["code"] == 3, failed
        sync_error = _sync_error(root / "broken.mp4")
        assert failed["items"][0]["error"] == sync_error and "decoded" in sync_error
        assert job_record(env, broken)["items"][0]["attempts"] == 2  # tried once more (VFRAME_JOB_RETRIES=1)
        assert client.wait(after, timeout=60)["code"] == 0
        assert survivor.popen.poll() is None
    assert_outputs(root, [*long_names, "r-after"])
    assert not (root / "out" / "broken.jpg").exists()


def _sync_error(path: Path) -> str:
    from vframe.errors import ProcessingFailed

    with pytest.raises(ProcessingFailed) as raised:
        grab(path, POSTER)
    return raised.value.message


def test_a_command_over_the_workers_memory_fails_alone(root: Path, tmp_path: Path) -> None:
    """A sheet of 1080p tiles needs more than VFRAME_WORKER_MEMORY_MB: its decode worker fails or is
    replaced on every try (599, the synchronous request's sentence), the job's poster is made, and
    the same server runs the next job."""
    huge = "vsample/png/interval/0.1/s/1920x1080/columns/4"
    env = {"VFRAME_STATE_DIR": str(tmp_path / "state"), "VFRAME_WORKER_MEMORY_MB": "150", "VFRAME_JOB_RETRIES": "1"}
    with serve(root, "--workers", "1", env=env) as server:
        client = Qiniu(server.url)
        job = client.submit("v.mp4", [huge + saveas("out/mem/huge.png"), POSTER + saveas("out/mem/poster.jpg")])
        status = client.wait(job)
        sync = httpx.get(sign(f"{server.url}/v.mp4?{huge}", ACCESS_KEY, SECRET_KEY, int(time.time()) + 60), timeout=60)
        assert sync.status_code == 599
        assert status["code"] == 3, status
        failed, made = status["items"]
        assert failed["code"] == 3 and failed["error"] == sync.json()["error"] and "memory" in failed["error"]
        assert made["code"] == 0 and (root / "out/mem/poster.jpg").read_bytes() == expected(root)[0]
        assert job_record(env, job)["items"][0]["attempts"] == 2
        assert client.wait(client.submit("v.mp4", [POSTER + saveas("out/mem/next.jpg")]))["code"] == 0
        assert "replaced (memory)" in server.log()
    assert not (root / "out/mem/huge.png").exists()
