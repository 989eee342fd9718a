"""pfop's `fops`: commands separated by `;`, each a spec of one of vframe's grammars (vframe/...,
vsample/..., and any other the spec package knows), optionally followed by `|saveas/<urlsafe
base64 of "bucket:key">`. A vsample with an image format and `savePattern/<urlsafe base64>` writes
every sampled frame as its own file, `$(count)` in the pattern standing for six digits from 000000.

Everything here is checked at submission: a malformed spec gives the same status and sentence as
the synchronous request would, and an output key that would leave the source is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from ..errors import InvalidSpec, SourceNotFound, TooLarge
from ..settings import Settings
from ..sources.keys import check_key
from ..spec import GRAMMARS, SampleSpec, Spec, parse
from ..spec.grammar import quoted

COUNT = "$(count)"
SAVE_PATTERN = "savePattern"


@dataclass(frozen=True)
class Command:
    """One command of a job: its text as submitted (`cmd` of the status), its spec, and where it writes."""

    cmd: str
    spec: Spec
    key: str  # the output key; for a pattern, the pattern itself
    pattern: bool = False  # every sampled frame as its own file, `key` with $(count) replaced

    def frame_key(self, index: int) -> str:
        return self.key.replace(COUNT, f"{index:06d}")


def parse_fops(fops: str, input_key: str, bucket: str, settings: Settings) -> list[Command]:
    """The commands of `fops` on the video `input_key` of `bucket`; InvalidSpec (400), Unsupported
    (415) or TooLarge (413) as the synchronous request would answer, naming the command."""
    texts = [text for text in fops.split(";") if text.strip()]
    if not texts:
        raise InvalidSpec("fops must name at least one command, such as vframe/jpg/offset/7.")
    if len(texts) > settings.job_max_commands:
        raise TooLarge(f"fops has {len(texts)} commands; one job may have at most {settings.job_max_commands}.")
    return [parse_command(text.strip(), input_key, bucket, settings) for text in texts]


def parse_command(cmd: str, input_key: str, bucket: str, settings: Settings) -> Command:
    text, _, saveas = cmd.partition("|")
    prefix = text.split("/", 1)[0]
    if prefix not in GRAMMARS:
        names = ", ".join(f"{name}/" for name in GRAMMARS)
        raise InvalidSpec(f"The fop {quoted(prefix)} is not one vframe runs: use {names}.")
    text, pattern = _without_pattern(text)
    spec = parse(text, settings)
    if pattern is not None:
        if not isinstance(spec, SampleSpec) or spec.is_storyboard:
            raise InvalidSpec("savePattern names every sampled frame: give it to a vsample with an image format.")
        if COUNT not in pattern:
            raise InvalidSpec(f"The savePattern {quoted(pattern)} must contain $(count), the frame's number.")
        _check_output_key(pattern.replace(COUNT, "000000"), pattern)
        if saveas:
            raise InvalidSpec("Give savePattern or saveas to a vsample, not both.")
        return Command(cmd, spec, pattern, pattern=True)
    if saveas:
        key = _saveas_key(saveas, bucket)
    else:  # a name of vframe's choosing: beside the video, named by the command
        digest = hashlib.sha256(str(spec).encode()).hexdigest()[:16]
        key = f"{input_key}.{digest}.{spec.output.extension}"
    _check_output_key(key, key)
    return Command(cmd, spec, key)


def _without_pattern(text: str) -> tuple[str, str | None]:
    """The spec without its `savePattern/<b64>` pair, and the pattern decoded."""
    parts = text.split("/")
    if SAVE_PATTERN not in parts:
        return text, None
    at = parts.index(SAVE_PATTERN)
    if at + 1 >= len(parts):
        raise InvalidSpec("savePattern needs a value: the urlsafe base64 of a name with $(count).")
    pattern = _b64("savePattern", parts[at + 1])
    return "/".join(parts[:at] + parts[at + 2:]), pattern


def _saveas_key(value: str, bucket: str) -> str:
    if not value.startswith("saveas/"):
        raise InvalidSpec(f"After | a fop may only have saveas/<entry>, not {quoted(value)}.")
    entry = _b64("saveas", value.removeprefix("saveas/"))
    named, colon, key = entry.partition(":")
    if not colon or not key:
        raise InvalidSpec("saveas must encode \"bucket:key\", the bucket and the key to write the result to.")
    if named != bucket:
        raise InvalidSpec(f"saveas may only write to the bucket {quoted(bucket)} the video is in, not {quoted(named)}.")
    return key


def _b64(name: str, value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidSpec(f"The {name} value must be urlsafe base64 of UTF-8 text.") from None


def _check_output_key(key: str, shown: str) -> None:
    """Output keys follow the request key rules: no absolute path, `..`, `.`, empty or hidden segment."""
    try:
        check_key(key)
    except SourceNotFound:
        raise InvalidSpec(
            f"The output key {quoted(shown)} must be a plain relative path inside the source "
            "(no leading /, no . or .. segments, no hidden names)."
        ) from None
