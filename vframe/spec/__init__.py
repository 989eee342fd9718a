"""The spec grammars, one module each (frame: `vframe/...`, sample: `vsample/...`, preview:
`vpreview/...`), and the dispatch on the prefix. `parse(text)` gives a frozen spec whose `str()`
is the canonical text."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidSpec
from ..settings import DEFAULT, Settings
from .frame import FORMATS, KEYS, MAX_OFFSET_MS, MODES, ROTATIONS, FrameSpec, parse_frame
from .grammar import quoted
from .preview import PreviewSpec, parse_preview
from .sample import SampleSpec, parse_sample

Spec = FrameSpec | SampleSpec | PreviewSpec
GRAMMARS: dict[str, Callable[[str, Settings], Spec]] = {
    "vframe": parse_frame, "vsample": parse_sample, "vpreview": parse_preview,
}


def parse(text: str, settings: Settings = DEFAULT) -> Spec:
    """Parse a spec string; InvalidSpec (400) for any malformed form, Unsupported (415) for an
    unknown format; the grammar is chosen by the prefix."""
    prefix = text.split("/", 1)[0]
    grammar = GRAMMARS.get(prefix)
    if grammar is None:
        names = " or ".join(f"'{name}/'" for name in GRAMMARS)
        raise InvalidSpec(f"The spec must start with {names}, as in vframe/jpg/offset/7 (not {quoted(prefix)}).")
    return grammar(text, settings)


__all__ = ["FORMATS", "KEYS", "MAX_OFFSET_MS", "MODES", "ROTATIONS", "FrameSpec", "PreviewSpec", "SampleSpec", "Spec",
           "parse"]
