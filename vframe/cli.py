"""The command line: `vframe grab INPUT SPEC [-o OUT]` (a frame, a sprite sheet or a storyboard),
`vframe sample INPUT SPEC -o DIR` (every sampled frame as its own file), `vframe probe INPUT` and
`vframe serve`. Exit 0 on success; each failure class has its own exit code and a one-sentence
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
from .settings import Settings, env_name, kind

EXIT_INTERNAL = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vframe", description="Cut frames out of a video as images.")
    parser.add_argument("--version", action="version", version=f"vframe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    grab_parser = commands.add_parser("grab", help="write the frame, sprite sheet or storyboard SPEC asks for")
    grab_parser.add_argument("input", help="the video: a path, an http(s):// URL or s3://bucket/key")
    grab_parser.add_argument("spec", help="e.g. vframe/jpg/offset/7/w/480/h/360 or vsample/vtt/interval/5/s/160x90")
    grab_parser.add_argument("-o", "--output", default="-", help="the file; - (the default) is stdout")
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
    for item in fields(Settings):
        default = "none" if item.default in (MISSING, "") else item.default
        serve_parser.add_argument(
            "--" + item.name.replace("_", "-"), dest=item.name, type=kind(item.name), default=None,
            metavar=item.name.upper(), help=f"{item.metadata['doc']} ({env_name(item.name)}, default {default})",
        )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "allow_private_urls", False):
            settings = replace(settings, allow_private_urls=1)
        if args.command == "serve":
            flags = {item.name: getattr(args, item.name) for item in fields(Settings)}
            settings = replace(settings, **{name: value for name, value in flags.items() if value is not None})
            settings.validate()
    except ValueError as error:
        print(f"vframe: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        return _serve(settings)
    try:
        if args.command == "grab":
            return _grab(args.input, args.spec, args.output, settings)
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


def _grab(input: str, spec: str, output: str, settings: Settings) -> int:
    result = grab(input, spec, settings)
    if output == "-":
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        _write(Path(output), result.data)
    return 0


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
