"""The one way a product is made, for the HTTP service, the CLI, the library and the workers
alike: limits -> open -> the product (walk -> pictures -> encode), with the deadline checked
between steps."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from . import products
from .errors import InvalidSpec, Unsupported
from .limits import Budget, check_output_bytes, check_source_size
from .media import Video
from .products import Links, Result
from .products.sample import each_frame
from .settings import DEFAULT, Settings
from .sources import Source, open_source
from .spec import SampleSpec, Spec, parse

Input = str | os.PathLike[str] | Source


def grab(input: Input, spec: str | Spec, settings: Settings = DEFAULT, *, started: float | None = None,
         links: Links | None = None) -> Result:
    """Make what `spec` asks for (a frame, a sprite sheet, a storyboard) out of `input` (a path,
    URL or Source). Raises a VframeError subclass, carrying its HTTP status, for every failure.
    The deadline runs from `started` (a time.monotonic() reading, e.g. when the HTTP request
    arrived), else from now. `links`: how a storyboard names its sheets (default: relative to the
    input's file name)."""
    budget = Budget(settings, started)
    parsed = parse(spec, settings) if isinstance(spec, str) else spec
    with open_video(input, settings, budget) as video:
        budget.lap("open")
        budget.check_time()
        result = products.make(video, parsed, settings, budget, links or _links_for(input))
        if budget.fetch_seconds:  # a remote video: time waiting for the origin, within the above
            budget.steps["fetch"] = budget.fetch_seconds
    check_output_bytes(len(result.data), settings)
    return replace(result, seconds=budget.steps)


def sample(input: Input, spec: str | SampleSpec, settings: Settings = DEFAULT, *,
           started: float | None = None) -> Iterator[tuple[int, Result]]:
    """Each frame a `vsample` image spec samples, as its own image: (index, result); the deadline
    runs from `started` as grab's does."""
    parsed = parse(spec, settings) if isinstance(spec, str) else spec
    if not isinstance(parsed, SampleSpec) or parsed.is_storyboard:
        raise InvalidSpec("Sampling writes every tile as its own image: give a vsample spec with an image format.")
    budget = Budget(settings, started)
    with open_video(input, settings, budget) as video:
        yield from each_frame(video, parsed, settings, budget)


def _links_for(input: Input) -> Links:
    """A storyboard made outside the service names its sheets after the input's file name."""
    name = Path(os.fspath(input)).name if isinstance(input, (str, os.PathLike)) else "video"
    return Links(quote(name.split("?", 1)[0] or "video"))


@contextmanager
def open_video(input: Input, settings: Settings, budget: Budget | None = None) -> Iterator[Video]:
    """The video behind a path, URL or Source, opened within the limits (remote reads count against `budget`)."""
    source = open_source(input, settings) if isinstance(input, (str, os.PathLike)) else input
    if source.size == 0:
        raise Unsupported("The file is empty: there is no video in it.")
    check_source_size(source.size, settings)
    with source.open(budget) as reader:
        try:
            with Video(reader, settings) as video:
                yield video
        except Exception as error:
            _raise_fetch_failure(reader, error)
            raise
        _raise_fetch_failure(reader, None)


def _raise_fetch_failure(reader: object, error: BaseException | None) -> None:
    """A remote read that failed is the cause of whatever FFmpeg made of it (a damaged-looking
    stream, an earlier frame): report the origin's failure (502/504/413), not a decoding one."""
    failure = getattr(reader, "failure", None)
    if failure is not None and failure is not error:
        raise failure from None
