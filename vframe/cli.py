"""The command line: `vframe grab INPUT SPEC [-o OUT]` (a frame, a sprite sheet, a storyboard or an
animated preview), `vframe sample INPUT SPEC -o DIR` (every sampled frame as its own file),
`vframe probe INPUT` and `vframe serve`. Exit 0 on success; each failure class has its own exit code and a one-sentence
message."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import MISSING, fields, replace
from pathlib import Path

from . import __version__, formats
from .errors import VframeError
from .pipeline import grab, sample
from .probe import probe
from .products import Result
from .settings import Settings, env_name, kind

EXIT_INTERNAL = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vframe", description="Cut frames out of a video as images.")
    parser.add_argument("--version", action="version", version=f"vframe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    grab_parser = commands.add_parser(
        "grab", help="write the frame, sprite sheet, storyboard or animated preview SPEC asks for"
    )
    grab_parser.add_argument("input", help="the video: a path, an http(s):// URL or s3://bucket/key")
    grab_parser.add_argument("spec", help="e.g. vframe/jpg/offset/7/w/480/h/360, vsample/vtt/interval/5/s/160x90 or "
                                                  "vpreview/gif/ss/5/t/3")
    grab_parser.add_argument("-o", "--output", default="-", help="the file; - (the default) is stdout")
    grab_parser.add_argument("-v", "--verbose", action="store_true",
                             help="say on stderr which frame it is (its time), its size, type and bytes")
    sample_parser = commands.add_parser("sample", help="write every frame a vsample SPEC samples as its own image")
    sample_parser.add_argument("input", help="the video: a path, an http(s):// URL or s3://bucket/key")
    sample_parser.add_argument("spec", help="e.g. vsample/jpg/interval/10/s/320x")
    sample_parser.add_argument("-o", "--output", required=True, help="the folder: 000000.jpg, 000001.jpg, ...")
    probe_parser = commands.add_parser("probe", help="print what vframe sees in a video, as JSON")
    probe_parser.add_argument("input", help="the video: a path, an http(s):// URL or s3://bucket/key")
    for remote in (grab_parser, sample_parser, probe_parser):
        remote.add_argument(
            "--allow-private-urls", action="store_true",
            help="let an http(s):// input reach loopback, private and link-local addresses "
                 "(or VFRAME_ALLOW_PRIVATE_URLS=1)",
        )
    serve_parser = commands.add_parser(
        "serve", help="run the HTTP service over a folder of videos",
        description="Every setting is a flag here and a VFRAME_* variable; a flag wins over its variable.",
    )
    worker_parser = commands.add_parser(
        "worker", help="run pfop jobs from the shared queue (VFRAME_QUEUE=redis://...) until stopped",
        description="Every setting is a flag here and a VFRAME_* variable; a flag wins over its variable.",
    )
    for configured in (serve_parser, worker_parser):
        for item in fields(Settings):
            default = "none" if item.default in (MISSING, "") else item.default
            configured.add_argument(
                "--" + item.name.replace("_", "-"), dest=item.name, type=kind(item.name), default=None,
                metavar=item.name.upper(), help=f"{item.metadata['doc']} ({env_name(item.name)}, default {default})",
            )
    jobs_parser = commands.add_parser(
        "jobs", help="list the pfop jobs kept, or show one (VFRAME_QUEUE, VFRAME_STATE_DIR)"
    )
    jobs_parser.add_argument("action", choices=("list", "show"))
    jobs_parser.add_argument("id", nargs="?", help="the job's persistentId (show)")
    for name in ("queue", "state_dir"):
        jobs_parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar=name.upper(),
                                 help=f"as the server's ({env_name(name)})")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "allow_private_urls", False):
            settings = replace(settings, allow_private_urls=1)
        if args.command in ("serve", "worker", "jobs"):
            flags = {item.name: getattr(args, item.name, None) for item in fields(Settings)}
            settings = replace(settings, **{name: value for name, value in flags.items() if value is not None})
            settings.validate()
    except ValueError as error:
        print(f"vframe: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        return _serve(settings)
    if args.command == "worker":
        return _worker(settings)
    try:
        if args.command == "jobs":
            from .jobs.cli import jobs

            return jobs(settings, args.action, args.id)
        if args.command == "grab":
            return _grab(args.input, args.spec, args.output, settings, verbose=args.verbose)
        if args.command == "sample":
            return _sample(args.input, args.spec, Path(args.output), settings)
        print(json.dumps(probe(args.input, settings), indent=2))
        return 0
    except VframeError as error:
        print(f"vframe: {error.message}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # a bug of ours: say so in one line, never a traceback
        print(f"vframe: internal error ({type(error).__name__}); please report it.", file=sys.stderr)
        return EXIT_INTERNAL


def _serve(settings: Settings) -> int:
    from .server import serve  # the HTTP stack is loaded only by the command that needs it

    try:
        serve(settings)
    except (ValueError, OSError) as error:  # no root or several, root not a folder, bad origin, port taken
        print(f"vframe: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _worker(settings: Settings) -> int:
    from .jobs.cli import worker

    try:
        return worker(settings)
    except (ValueError, OSError) as error:
        print(f"vframe: {error}", file=sys.stderr)
        return EXIT_USAGE


def _grab(input: str, spec: str, output: str, settings: Settings, *, verbose: bool = False) -> int:
    result = grab(input, spec, settings)
    if output == "-":
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        _write(Path(output), result.data)
    if verbose:
        print(f"vframe: {described(result)}", file=sys.stderr)
    return 0


def described(result: Result) -> str:
    """What `grab -v` says of a result: `frame 3.000 s, 160x120 image/png, 5123 bytes` (a sheet or
    storyboard: how many tiles)."""
    what = f"{len(result.tiles)} tiles" if result.tiles else f"frame {result.time_header} s"
    return f"{what}, {result.width}x{result.height} {result.media_type}, {len(result.data)} bytes"


def _sample(input: str, spec: str, folder: Path, settings: Settings) -> int:
    """Each frame as DIR/<six digits>.<ext>, numbered from 000000 as Qiniu's $(count)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, result in sample(input, spec, settings):
        _write(folder / f"{index:06d}.{formats.by_media_type(result.media_type).extension}", result.data)
    return 0


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)


if __name__ == "__main__":
    raise SystemExit(main())
