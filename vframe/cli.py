"""The command line: `vframe grab INPUT SPEC [-o OUT]` and `vframe probe INPUT`.
Exit 0 on success; each failure class has its own exit code and a one-sentence message."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .errors import VframeError
from .pipeline import grab
from .probe import probe
from .settings import Settings

EXIT_INTERNAL = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vframe", description="Cut one frame out of a video as an image.")
    parser.add_argument("--version", action="version", version=f"vframe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    grab_parser = commands.add_parser("grab", help="write the frame SPEC asks for as an image")
    grab_parser.add_argument("input", help="the video: a path")
    grab_parser.add_argument("spec", help="e.g. vframe/jpg/offset/7/w/480/h/360")
    grab_parser.add_argument("-o", "--output", default="-", help="the image file; - (the default) is stdout")
    probe_parser = commands.add_parser("probe", help="print what vframe sees in a video, as JSON")
    probe_parser.add_argument("input", help="the video: a path")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"vframe: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "grab":
            return _grab(args.input, args.spec, args.output, settings)
        print(json.dumps(probe(args.input, settings), indent=2))
        return 0
    except VframeError as error:
        print(f"vframe: {error.message}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # a bug of ours: say so in one line, never a traceback
        print(f"vframe: internal error ({type(error).__name__}); please report it.", file=sys.stderr)
        return EXIT_INTERNAL


def _grab(input: str, spec: str, output: str, settings: Settings) -> int:
    result = grab(input, spec, settings)
    if output == "-":
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        with open(output, "wb") as file:
            file.write(result.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
