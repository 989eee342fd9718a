"""Debian packages the tests and the benchmark need (redis-server, nginx, chromium...), installed
with apt-get when missing and when running as root. `make test` runs

    python -m vframe_testkit.system redis-server=redis-server chromedriver=chromium-driver ...

each argument `BINARY=PACKAGE`: the binary looked for on PATH, the package that brings it. A binary
that cannot be had is reported, not fatal: the tests that need it skip and say why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

APT_LOCK_WAIT_S = 600  # how long apt-get waits for the dpkg/apt locks another apt or dpkg holds
_updated = False


def ensure(binary: str, package: str) -> str | None:
    """The path of `binary`, installed from `package` if missing; None (with the reason on stderr)
    when it cannot be had."""
    global _updated
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"vframe: {binary} is not installed and apt-get cannot be run as root here "
              f"(install Debian's {package}); the tests that need it will skip", file=sys.stderr)
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"]
    commands = [] if _updated else [["apt-get", *wait, "update", "-qq"]]
    commands.append(["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", package])
    for command in commands:
        print(f"vframe: {binary} is missing; running: {' '.join(command)}", flush=True)
        if not _apt_get(command, env):
            print(f"vframe: {' '.join(command)} failed; the tests that need {binary} will skip", file=sys.stderr)
            return None
        _updated = _updated or "update" in command
    found = shutil.which(binary)
    if found is None:
        print(f"vframe: {binary} still not found after apt-get install {package}", file=sys.stderr)
    return found


def _apt_get(command: list[str], env: dict[str, str]) -> bool:
    """Run an apt-get command; while it fails because another process holds a lock (DPkg::Lock::Timeout
    covers the dpkg lock; the lists lock of `apt-get update` is not waited for by every apt), try again
    every 10 s for up to APT_LOCK_WAIT_S. Its stderr is shown when it fails."""
    end = time.monotonic() + APT_LOCK_WAIT_S
    while True:
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=False)
        if done.returncode == 0:
            return True
        locked = any(word in done.stderr for word in ("Could not get lock", "Unable to lock", "is held by process"))
        if not locked or time.monotonic() > end:
            print(done.stderr.strip()[-1000:], file=sys.stderr)
            return False
        print("vframe: another process holds the package lock; waiting", flush=True)
        time.sleep(10)


def main(arguments: list[str]) -> int:
    for argument in arguments:
        binary, _, package = argument.partition("=")
        ensure(binary, package or binary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
