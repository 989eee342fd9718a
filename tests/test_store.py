"""The shared result store (VFRAME_RESULT_STORE), through live `vframe serve` processes: a real Redis
(Debian's redis-server) and a real S3-compatible server (moto's), spoken to over their protocols.
What one server made is a store hit on another; the key covers the output settings; a store that is
down or slow is skipped (the frame is decoded) and counted."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from vframe.settings import Settings
from vframe.store import CorruptEntry, decode_entry, encode_entry, entry_name
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server, wait_for
from vframe_testkit.redisserver import NOT_INSTALLED, RedisServer, run_redis_server
from vframe_testkit.s3server import S3Server, s3_fixture  # noqa: F401 (the fixture)

FRAME = "/clip.mp4?vframe/jpg/offset/1/w/160"
ONE_WORKER = {"VFRAME_WORKERS": "1"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    synth.make_video(folder / "clip.mp4", frames=72, fps=24, gop=24, width=320, height=240)
    return folder


@pytest.fixture()
def redis_store(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.flush()
    yield redis_server


def servers(videos: Path, *envs: dict[str, str]) -> tuple[ExitStack, list[LiveServer]]:
    stack = ExitStack()
    return stack, [stack.enter_context(live_server(videos, env={**ONE_WORKER, **env})) for env in envs]


def store_metric(server: LiveServer, name: str, backend: str, kind: str | None = None) -> float:
    labels = f'backend="{backend}"' + (f',kind="{kind}"' if kind else "")
    return server.metric(f"vframe_store_{name}_total", labels)


def test_entry_keeps_what_the_response_needs(videos: Path) -> None:
    from vframe import grab

    result = grab(str(videos / "clip.mp4"), "vsample/jpg/interval/1/s/80x60", Settings())
    again = decode_entry(encode_entry(result), 1 << 20)
    assert again == result and again.tiles == result.tiles and again.times == result.times
    preview = grab(str(videos / "clip.mp4"), "vpreview/webp/ss/1/t/1/w/80", Settings())
    assert preview.animated and decode_entry(encode_entry(preview), 1 << 20) == preview
    with pytest.raises(CorruptEntry):
        decode_entry(b"not an entry", 1 << 20)
    with pytest.raises(CorruptEntry):
        decode_entry(encode_entry(preview), len(preview.data) - 1)


def hostile_entries() -> dict[str, bytes]:
    """What a store could give back that is not an entry of vframe's, each its own way."""
    def head(**fields: object) -> bytes:
        entry = {"media_type": "image/jpeg", "width": 80, "height": 60, "times": ["1/1"], "tiles": [], **fields}
        return json.dumps(entry).encode()

    return {
        "html": head(media_type="text/html") + b"\n<script>alert(1)</script>",
        "divide-by-zero": head(times=["1/0"]) + b"\nxx",
        "huge-exponent": head(times=["1e2000000"]) + b"\nxx",
        "infinite-size": head().replace(b'"width": 80', b'"width": Infinity') + b"\nxx",
        "deep": b"[" * 200_000 + b"\nxx",
        "oversized": head() + b"\n" + bytes(300_000),
        "not-json": b"\x00\xff" * 100 + b"\nxx",
    }


def test_a_hostile_store_entry_is_a_miss_never_an_error(videos: Path, redis_store: RedisServer) -> None:
    """Every kind of nonsense under a frame's entry name: the frame is decoded and served all the
    same, and the store's errors count it as corrupt."""
    import redis

    from vframe.server import cache_key
    from vframe.sources import LocalFolder
    from vframe.spec import parse

    settings = Settings()
    source = LocalFolder(videos).find("clip.mp4")
    client = redis.Redis.from_url(redis_store.url)
    specs = {case: f"vframe/jpg/offset/1/w/{70 + index}" for index, case in enumerate(hostile_entries())}
    for case, entry in hostile_entries().items():
        client.set(entry_name(cache_key(source, parse(specs[case], settings), settings, None)), entry)
    env = {"VFRAME_RESULT_STORE": redis_store.url, "VFRAME_STORE_MAX_ENTRY_BYTES": "200000"}
    stack, (server,) = servers(videos, env)
    with stack, server.client() as http:
        for case, spec in specs.items():
            answer = http.get(f"/clip.mp4?{spec}")
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg", (case, answer.text)
            assert answer.headers["x-vframe-time"] == "1.000"
        assert store_metric(server, "errors", "redis", "corrupt") == len(specs)
        assert store_metric(server, "hits", "redis") == 0


def test_the_key_covers_the_output_settings(videos: Path) -> None:
    from vframe.server import cache_key
    from vframe.sources import LocalFolder
    from vframe.spec import parse

    source = LocalFolder(videos).find("clip.mp4")
    variants = (Settings(), Settings(jpeg_quality=40), Settings(webp_quality=40), Settings(max_width=1920),
                Settings(decoders="-hevc"), Settings(decoders="+msvideo1,-hevc"))
    keys = {cache_key(source, parse(spec, settings), settings, None)
            for spec in ("vframe/jpg/offset/1", "vframe/webp/offset/1") for settings in variants}
    # each format: default, its own quality at 40, another size limit (not the other's quality), and
    # each codec policy (a replica that refuses a codec must not serve another's stored frame of it)
    assert len(keys) == 10
    # A signed storyboard's key covers the secret its sheet links are signed with: one rotated under
    # the same access key is another entry (its links carry other tokens).
    from vframe.products import Links

    links = Links("clip.mp4", ("http://vframe.test/clip.mp4", "ak", 2_000_000_000))
    boards = {cache_key(source, parse("vsample/vtt/interval/1", settings), settings, links)
              for settings in (Settings(signing_keys="ak:old"), Settings(signing_keys="ak:new"),
                               Settings(signing_keys="ak:new,other:x"))}
    assert len(boards) == 2


def test_settings_refuse_an_unknown_store() -> None:
    with pytest.raises(ValueError, match="VFRAME_RESULT_STORE"):
        Settings.from_env({"VFRAME_RESULT_STORE": "memcached://x"})


def test_redis_shared_between_servers(videos: Path, redis_store: RedisServer) -> None:
    env = {"VFRAME_RESULT_STORE": redis_store.url}
    stack, (one, two, other_quality) = servers(videos, env, env, {**env, "VFRAME_JPEG_QUALITY": "40"})
    with stack, one.client() as a, two.client() as b, other_quality.client() as c:
        made = a.get(FRAME)
        assert made.status_code == 200
        assert store_metric(one, "misses", "redis") == 1 and store_metric(one, "hits", "redis") == 0
        # Stored after the answer went out: wait for the entry.
        wait_for(lambda: redis_store.command(b"DBSIZE") not in (None, b":0"), "the entry in Redis", 10)
        shared = b.get(FRAME)
        assert shared.status_code == 200 and shared.content == made.content
        assert shared.headers["etag"] == made.headers["etag"]
        assert shared.headers["x-vframe-time"] == made.headers["x-vframe-time"]
        assert store_metric(two, "hits", "redis") == 1
        assert two.metric("vframe_decode_seconds_count") == 0, "the second server decoded nothing"
        assert b.get(FRAME).status_code == 200
        assert store_metric(two, "hits", "memory") == 1, "then from its own memory"
        # The key covers the output settings: another JPEG quality is another entry.
        lower = c.get(FRAME)
        assert lower.status_code == 200 and lower.content != made.content
        assert lower.headers["etag"] != made.headers["etag"]
        assert store_metric(other_quality, "misses", "redis") == 1
        assert store_metric(other_quality, "hits", "redis") == 0


def test_s3_shared_between_servers(videos: Path, s3: S3Server) -> None:
    bucket = s3.bucket()
    env = {**s3.env, "VFRAME_RESULT_STORE": f"s3://{bucket}/results"}
    stack, (one, two) = servers(videos, env, env)
    with stack, one.client() as a, two.client() as b:
        made = a.get("/clip.mp4?vsample/jpg/interval/1/s/80x60")
        assert made.status_code == 200
        assert store_metric(one, "misses", "s3") == 1
        def names() -> list[str]:
            return [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]

        wait_for(names, "the entry in S3 (stored after the answer went out)", 10)
        assert len(names()) == 1 and names()[0].startswith("results/vframe/")
        shared = b.get("/clip.mp4?vsample/jpg/interval/1/s/80x60")
        assert shared.status_code == 200 and shared.content == made.content
        assert shared.headers["x-vframe-tiles"] == made.headers["x-vframe-tiles"]
        assert store_metric(two, "hits", "s3") == 1


@pytest.mark.skipif(shutil.which("redis-server") is None, reason=NOT_INSTALLED)
def test_redis_down_or_slow_degrades_to_decoding(videos: Path) -> None:
    with run_redis_server() as redis, live_server(
        videos, env={**ONE_WORKER, "VFRAME_RESULT_STORE": redis.url, "VFRAME_STORE_TIMEOUT_SECONDS": "0.3"}
    ) as server, server.client() as client:
        assert client.get(FRAME).status_code == 200
        assert store_metric(server, "misses", "redis") == 1
        redis.stop()
        down = client.get("/clip.mp4?vframe/jpg/offset/2/w/160")
        assert down.status_code == 200 and down.headers["content-type"] == "image/jpeg"
        assert store_metric(server, "errors", "redis", "connection") >= 1
        assert "result store (redis) skipped" in server.log()
        redis.start_again()
        assert redis.process is not None
        os.kill(redis.process.pid, signal.SIGSTOP)  # up, but answering nothing: slow
        try:
            slow = client.get("/clip.mp4?vframe/jpg/offset/2.5/w/160")
            assert slow.status_code == 200
            assert store_metric(server, "errors", "redis", "timeout") >= 1
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)
