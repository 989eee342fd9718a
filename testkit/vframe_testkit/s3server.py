"""A real S3-compatible server for the tests: moto's standalone server started in its own process
on 127.0.0.1 and a free port, spoken to over real HTTP (boto3 here, vframe's botocore in the server
and CLI processes). Nothing is patched in-process.

`s3` is a session fixture: a test module imports it (`from vframe_testkit.s3server import s3_fixture`) and makes its
own bucket with `s3.bucket(folder=...)`. `run_s3_server()` starts a private one,
e.g. to stop it under a running vframe and start it again on the same port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import httpx
import pytest

from vframe_testkit.live import ROOT

REGION = "us-east-1"
# Fake credentials, and nothing else from the AWS chain: no config files, no instance metadata.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a vframe process (serve, grab, probe) needs to reach this server: credentials and endpoint."""
        return {**CREDENTIALS, "VFRAME_S3_ENDPOINT": self.endpoint, "VFRAME_S3_REGION": REGION}

    def client(self) -> Any:
        config = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="test",
            aws_secret_access_key="test", config=config,
        )

    def bucket(self, name: str | None = None, folder: Path | None = None, prefix: str = "") -> str:
        """A new bucket (a unique name unless given) with every file under `folder` at `prefix` + its path."""
        name = name or f"vframe-{uuid.uuid4().hex[:12]}"
        s3 = self.client()
        s3.create_bucket(Bucket=name)
        if folder is not None:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    s3.put_object(Bucket=name, Key=prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes())
        return name

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Upload (or replace) one object; its new ETag."""
        return str(self.client().put_object(Bucket=bucket, Key=key, Body=data)["ETag"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(port: int, log_file: Any) -> S3Server:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "VFRAME_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**environ, **CREDENTIALS}, stdout=log_file, stderr=log_file,
    )
    server = S3Server(process, port, Path(log_file.name))
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if process.poll() is not None:
            break
        try:
            answered = httpx.get(f"{server.endpoint}/moto-api/", timeout=2).status_code == 200
        except httpx.HTTPError:
            answered = False
        if answered and process.poll() is None:  # ours answered (not another server on a taken port)
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"moto's server did not start on port {port}:\n{server.log()}")


@contextmanager
def run_s3_server(port: int | None = None) -> Iterator[S3Server]:
    """moto's server on `port` (default: a free one; a few tries, as another process may take it first)."""
    log_file = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
    try:
        for attempt in range(3):
            try:
                server = _start(port or free_port(), log_file)
                break
            except RuntimeError:
                if port is not None or attempt == 2:
                    raise
        try:
            yield server
        finally:
            server.stop()
    finally:
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)


@pytest.fixture(scope="session", name="s3")
def s3_fixture() -> Iterator[S3Server]:
    """The S3 server of the test session (each xdist worker has its own)."""
    with run_s3_server() as server:
        yield server
